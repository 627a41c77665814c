/**
 * A stand-in for analyzer/main.ts (test/unit/analyzerProcess.test.ts): follows the parent exactly as
 * the analyzer does, and appends what it gets to ANALYZER_TEST_OUT: each token, then "gone".
 */
import { appendFileSync } from 'node:fs';
import { followParent, hasParent } from '../../server/src/analyzer/parentChannel.ts';

const out = process.env.ANALYZER_TEST_OUT!;
appendFileSync(out, `ipc ${hasParent()} env-token ${process.env.DFS_ANALYZER_TOKEN ?? 'none'}\n`);
await followParent({
  onToken: (token) => appendFileSync(out, `token ${token}\n`),
  onGone: () => {
    appendFileSync(out, 'gone\n');
    process.exit(0);
  },
});
