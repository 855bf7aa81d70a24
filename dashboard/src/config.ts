// What the API hands the app at run time, in <meta name="jobq-config">: where it is
// mounted, which environment this is, and whether it catches mail (`jobq run`).
// Nothing here is decided at build time.

export interface Environment {
  name: string;
  color: string;
}

export interface Config {
  /** The path prefix the API is served under behind an ingress ("" or "/jobq"). */
  basePath: string;
  /** Where the API's /v1 routes are, as a prefix ("" for the same origin's root). */
  apiBase: string;
  environment: Environment;
  version: string;
  /** The API lists the mail `jobq run` caught (GET /v1/local/mail): show the Mail page. */
  localMail: boolean;
}

const DEFAULTS: Config = {
  basePath: "",
  apiBase: "",
  environment: { name: "", color: "#b45309" },
  version: "",
  localMail: false,
};

export function parseConfig(content: string | null | undefined): Config {
  if (!content) return DEFAULTS;
  try {
    const raw = JSON.parse(content) as Partial<Config>;
    return {
      basePath: typeof raw.basePath === "string" ? raw.basePath : DEFAULTS.basePath,
      apiBase: typeof raw.apiBase === "string" ? raw.apiBase : DEFAULTS.apiBase,
      environment: {
        name: typeof raw.environment?.name === "string" ? raw.environment.name : "",
        color: typeof raw.environment?.color === "string" ? raw.environment.color : DEFAULTS.environment.color,
      },
      version: typeof raw.version === "string" ? raw.version : "",
      localMail: raw.localMail === true,
    };
  } catch {
    return DEFAULTS;
  }
}

export const config: Config = parseConfig(
  typeof document === "undefined"
    ? null
    : document.querySelector<HTMLMetaElement>('meta[name="jobq-config"]')?.content,
);
