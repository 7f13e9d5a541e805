/**
 * The cluster suite's frame (issue 19): it runs only in `npm run test:cluster` (or when a test/cluster
 * file is named on the command line), never in the ordinary `npm test`, which loads every file under test/.
 */

/** True in the cluster run: SEALTRACE_CLUSTER=1 (the npm script) or a test/cluster file given by name. */
export const CLUSTER_RUN = process.env.SEALTRACE_CLUSTER === "1" || process.argv.some((arg) => /test[\\/]cluster[\\/]/.test(arg));

/** `describe`, but only in the cluster run: elsewhere the file registers nothing. */
export function clusterSuite(title: string, body: (this: Mocha.Suite) => void): void {
  if (CLUSTER_RUN) describe(title, body);
}
