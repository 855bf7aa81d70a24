// The pages and their URLs. Filters live in the URL's search params, validated, so a
// link shows the same list to whoever follows it.
import { createRootRoute, createRoute, createRouter } from "@tanstack/react-router";

import { config } from "./config";
import { ApiKeysPage } from "./pages/ApiKeys";
import { DeadJobsPage } from "./pages/DeadJobs";
import { JobDetailPage } from "./pages/JobDetail";
import { JobsPage, validateJobsSearch } from "./pages/Jobs";
import { OverviewPage } from "./pages/Overview";
import { QueuesPage } from "./pages/Queues";
import { SchedulesPage } from "./pages/Schedules";
import { SubmitPage, validateSubmitSearch } from "./pages/Submit";
import { WorkersPage } from "./pages/Workers";
import { Layout } from "./ui/Layout";

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

const routeTree = rootRoute.addChildren([
  deadRoute,
  keysRoute,
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
