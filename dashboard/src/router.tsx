// The pages and their URLs. Filters live in the URL's search params, validated, so a
// link shows the same list to whoever follows it.
//
// The Overview and the jobs list are in the first download; every other page is loaded
// when first opened, so the first rows arrive sooner.
import { createRootRoute, createRoute, createRouter, lazyRouteComponent } from "@tanstack/react-router";

import { config } from "./config";
import { validateAuditSearch } from "./pages/auditSearch";
import { JobsPage, validateJobsSearch } from "./pages/Jobs";
import { OverviewPage } from "./pages/Overview";
import { Layout } from "./ui/Layout";

const JobDetailPage = lazyRouteComponent(() => import("./pages/JobDetail"), "JobDetailPage");
const SubmitPage = lazyRouteComponent(() => import("./pages/Submit"), "SubmitPage");
const QueuesPage = lazyRouteComponent(() => import("./pages/Queues"), "QueuesPage");
const WorkersPage = lazyRouteComponent(() => import("./pages/Workers"), "WorkersPage");
const SchedulesPage = lazyRouteComponent(() => import("./pages/Schedules"), "SchedulesPage");
const DeadJobsPage = lazyRouteComponent(() => import("./pages/DeadJobs"), "DeadJobsPage");
const ApiKeysPage = lazyRouteComponent(() => import("./pages/ApiKeys"), "ApiKeysPage");
const MailPage = lazyRouteComponent(() => import("./pages/Mail"), "MailPage");
const AuditPage = lazyRouteComponent(() => import("./pages/Audit"), "AuditPage");

export interface SubmitSearch {
  /** The id of a job to start from (clone and edit); the original is kept. */
  clone?: string;
}

function validateSubmitSearch(raw: Record<string, unknown>): SubmitSearch {
  return { clone: typeof raw.clone === "string" && raw.clone ? raw.clone : undefined };
}

const rootRoute = createRootRoute({ component: Layout });

const indexRoute = createRoute({ getParentRoute: () => rootRoute, path: "/", component: OverviewPage });

const jobsRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/jobs",
  validateSearch: validateJobsSearch,
  component: function Jobs() {
    return <JobsPage search={jobsRoute.useSearch()} />;
  },
});

const jobRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/jobs/$jobId",
  component: function Job() {
    const { jobId } = jobRoute.useParams();
    return <JobDetailPage key={jobId} jobId={jobId} />;
  },
});

const submitRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/submit",
  validateSearch: validateSubmitSearch,
  component: function Submit() {
    return <SubmitPage search={submitRoute.useSearch()} />;
  },
});
const queuesRoute = createRoute({ getParentRoute: () => rootRoute, path: "/queues", component: QueuesPage });
const workersRoute = createRoute({ getParentRoute: () => rootRoute, path: "/workers", component: WorkersPage });
const schedulesRoute = createRoute({ getParentRoute: () => rootRoute, path: "/schedules", component: SchedulesPage });

const deadRoute = createRoute({ getParentRoute: () => rootRoute, path: "/dead", component: DeadJobsPage });
const keysRoute = createRoute({ getParentRoute: () => rootRoute, path: "/api-keys", component: ApiKeysPage });
const auditRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: "/audit",
  validateSearch: validateAuditSearch,
  component: function Audit() {
    return <AuditPage search={auditRoute.useSearch()} />;
  },
});
// Only where the server catches mail (`jobq run`); elsewhere the URL is not found.
const mailRoute = createRoute({ getParentRoute: () => rootRoute, path: "/mail", component: MailPage });

const routeTree = rootRoute.addChildren([
  deadRoute,
  keysRoute,
  auditRoute,
  ...(config.localMail ? [mailRoute] : []),
  indexRoute,
  jobsRoute,
  jobRoute,
  submitRoute,
  queuesRoute,
  workersRoute,
  schedulesRoute,
]);

export const router = createRouter({
  routeTree,
  basepath: `${config.basePath}/ui`,
  defaultNotFoundComponent: () => (
    <section>
      <h1>Not found</h1>
      <p>There is no page here.</p>
    </section>
  ),
});

declare module "@tanstack/react-router" {
  interface Register {
    router: typeof router;
  }
}
