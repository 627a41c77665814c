/** What every command-line script needs: options parsed strictly, -h for help, exit 2 with the usage on a mistake. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Cli<O extends Options> {
  values: ReturnType<typeof parseArgs<{ options: O }>>['values'];
  /** Prints the message and the usage to stderr and exits 2. */
  fail(message: string): never;
}

export function parseCli<O extends Options>(usage: string, options: O): Cli<O> {
  const fail = (message: string): never => {
    console.error(`${message}\n${usage}`);
    process.exit(2);
  };
  let values: Record<string, unknown> = {};
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return { values: values as Cli<O>['values'], fail };
}
