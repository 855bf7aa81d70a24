// The API client: typed by the API's own OpenAPI document (schema.ts, generated).
import createClient, { type Middleware } from "openapi-fetch";

import { config } from "../config";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Job = Schemas["JobOut"];
export type JobStatus = Job["status"];
export type Queue = Schemas["QueueOut"];
export type Worker = Schemas["WorkerOut"];
export type Schedule = Schemas["ScheduleOut"];
export type JobType = Schemas["JobTypeOut"];

/** One field's error in a problem document. */
export interface FieldError {
  field: string;
  message: string;
}

/** An RFC 9457 problem document, as the API answers errors. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
}

/** A failed call: the API's problem, or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail ?? problem.title);
    this.status = problem.status;
    this.problem = problem;
  }

  /** The message for `field` (as the API names it, e.g. "payload.seconds"), if any. */
  fieldError(field: string): string | undefined {
    return this.problem.errors?.find((e) => e.field === field)?.message;
  }

  /** Errors of fields under `prefix` (e.g. "payload"), with the prefix dropped. */
  fieldErrorsUnder(prefix: string): FieldError[] {
    return (this.problem.errors ?? [])
      .filter((e) => e.field === prefix || e.field.startsWith(prefix + "."))
      .map((e) => ({ field: e.field.slice(prefix.length + 1), message: e.message }));
  }

  get unavailable(): boolean {
    return this.status === 0 || this.status === 503;
  }
}

let apiKey: string | null = null;

/** The key every call sends; held in memory (and in sessionStorage only when asked). */
export function setApiKey(key: string | null): void {
  apiKey = key;
}

/** The Authorization header for calls made outside the typed client (the event stream). */
export function authHeaders(): Record<string, string> {
  return apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
}

const auth: Middleware = {
  onRequest({ request }) {
    if (apiKey) request.headers.set("Authorization", `Bearer ${apiKey}`);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: `${window.location.origin}${config.apiBase}` });
api.use(auth);

function asProblem(error: unknown, response: Response): Problem {
  if (error && typeof error === "object" && "title" in error && "status" in error) return error as Problem;
  return { type: "about:blank", title: response.statusText || "Error", status: response.status };
}

/** Unwrap an openapi-fetch call: its data, or an ApiError with the problem. */
export async function call<T>(
  request: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch {
    throw new ApiError({ type: "about:blank", title: "The API cannot be reached", status: 0 });
  }
  if (result.error !== undefined || !result.response.ok) throw new ApiError(asProblem(result.error, result.response));
  return result.data as T;
}
