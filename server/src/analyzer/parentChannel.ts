/**
 * The embedded analyzer's link to the server process that started it (screening/AnalyzerProcess.ts):
 * the Node IPC channel. Over it the server hands the analyzer its short-lived service token, and
 * renews it; its closing means the server is gone (even killed with SIGKILL), and the analyzer
 * exits rather than live on as an orphan that a restarted server would find in its calls.
 * A remote analyzer (another host) has no such channel and reads its token from the environment.
 */
import { z } from 'zod';

const ParentMessageSchema = z.object({ type: z.literal('token'), token: z.string().min(10).max(2048) });
export type ParentMessage = z.infer<typeof ParentMessageSchema>;

/** Set by the server in its analyzer's environment: "your token comes over IPC". */
export const IPC_MARKER = { DFS_ANALYZER_IPC: '1' } as const;

/**
 * Whether this process was started by the server with an IPC channel (and not merely by a process
 * manager that opens one, as pm2 does: those analyzers read DFS_ANALYZER_TOKEN).
 */
export function hasParent(): boolean {
  return typeof process.send === 'function' && process.env.DFS_ANALYZER_IPC === IPC_MARKER.DFS_ANALYZER_IPC;
}

/**
 * Follows the parent: `onToken` with each token it sends (the first one resolves the promise),
 * `onGone` once the channel closes. Rejects if no token comes within `timeoutMs`.
 */
export function followParent(opts: { onToken: (token: string) => void; onGone: () => void; timeoutMs?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    let first = true;
    const timer = setTimeout(() => reject(new Error('the server sent no service token over IPC')), opts.timeoutMs ?? 15_000);
    process.on('message', (m: unknown) => {
      const parsed = ParentMessageSchema.safeParse(m);
      if (!parsed.success) return;
      opts.onToken(parsed.data.token);
      if (first) {
        first = false;
        clearTimeout(timer);
        resolve(parsed.data.token);
      }
    });
    process.once('disconnect', () => {
      clearTimeout(timer);
      opts.onGone();
    });
  });
}
