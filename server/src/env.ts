/** Environment helpers shared by the server and the analyzer process. */

/**
 * The environment with empty (or blank) variables removed: docker compose passes `${VAR:-}` through
 * as '', and an operator who leaves a variable empty means "unset", not "set to nothing".
 */
export function withoutEmpty(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
}
