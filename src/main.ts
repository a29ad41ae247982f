// Entry point: the CLI is wired in cli/; this file only runs it.
import { runCli } from './cli/index.js';

process.exitCode = await runCli(process.argv.slice(2));
