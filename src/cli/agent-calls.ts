// The subcommands that change a running agent through its local API:
// `vigil policy add|delete|list|enable|disable` and `vigil rules add|delete|list`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from './command.js';
import { parseFlags } from './flags.js';
import { call, connectAgent, socketPath } from '../agent/client.js';

export const POLICY_AGENT_SUBCOMMANDS = ['add', 'delete', 'list', 'enable', 'disable'] as const;
export const RULES_AGENT_SUBCOMMANDS = ['add', 'delete', 'list'] as const;

export const AGENT_CALLS_USAGE = `  --socket PATH   the agent's socket (default $VIGIL_SOCKET, else /run/vigil/vigil.sock)`;

interface Parsed {
  socket: string;
  /** The one argument (a file for add, a name otherwise); undefined for list. */
  arg: string | undefined;
}

function parse(sub: string, argv: string[]): Parsed {
  const { values, positionals } = parseFlags({ args: argv, options: { socket: { type: 'string' } }, allowPositionals: true });
  const want = sub === 'list' ? 0 : 1;
  if (positionals.length > want) throw new UsageError(`unexpected argument "${positionals[want]}"`);
  if (positionals.length < want) throw new UsageError(`${sub}: give ${sub === 'add' ? 'a file' : 'a name'}`);
  return { socket: socketPath(values.socket), arg: positionals[0] };
}

function readInput(file: string): { content: string; name: string } {
  try {
    return { content: readFileSync(file, 'utf8'), name: path.resolve(file) };
  } catch (e) {
    throw new UsageError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((v, i) => (i === r.length - 1 ? v : v.padEnd(widths[i]!))).join('  ')).join('\n');
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** vigil policy add FILE | delete NAME | enable NAME | disable NAME | list [--socket PATH] */
export async function policyAgentCommand(sub: (typeof POLICY_AGENT_SUBCOMMANDS)[number], argv: string[]): Promise<number> {
  const o = parse(sub, argv);
  const input = sub === 'add' ? readInput(o.arg!) : undefined;
  const client = connectAgent(o.socket);
  try {
    switch (sub) {
      case 'add': {
        const r = await call<{ names: string[] }>(client, 'AddTracingPolicy', { yaml: input!.content, source: input!.name });
        say(`added: ${r.names.join(', ')}`);
        break;
      }
      case 'list': {
        const r = await call<{ policies: Record<string, string>[] }>(client, 'ListTracingPolicies', {});
        if (!r.policies.length) say('no policies');
        else {
          say(table([['NAME', 'STATE', 'ORIGIN', 'EVENTS', 'ACTIONS', 'SOURCE'],
            ...r.policies.map((p) => [p.name!, p.state!, p.origin!, p.events!, p.actions!, p.source!])]));
        }
        break;
      }
      default: {
        const method = { delete: 'DeleteTracingPolicy', enable: 'EnableTracingPolicy', disable: 'DisableTracingPolicy' }[sub];
        await call(client, method, { name: o.arg });
        say(`${sub === 'delete' ? 'deleted' : `${sub}d`}: ${o.arg}`);
      }
    }
  } finally {
    client.close();
  }
  return 0;
}

/** vigil rules add FILE | delete NAME | list [--socket PATH] */
export async function rulesAgentCommand(sub: (typeof RULES_AGENT_SUBCOMMANDS)[number], argv: string[]): Promise<number> {
  const o = parse(sub, argv);
  const input = sub === 'add' ? readInput(o.arg!) : undefined;
  const client = connectAgent(o.socket);
  try {
    if (sub === 'list') {
      const r = await call<{ files: { name: string; origin: string; rules: number }[]; active: number; total: number }>(client, 'ListRules', {});
      if (r.files.length) say(table([['FILE', 'ORIGIN', 'RULES'], ...r.files.map((f) => [f.name, f.origin, String(f.rules)])]));
      say(`${r.active} rules active of ${r.total}`);
    } else {
      const r = sub === 'add'
        ? await call<{ active: number; total: number }>(client, 'AddRules', { yaml: input!.content, name: input!.name })
        : await call<{ active: number; total: number }>(client, 'DeleteRules', { name: o.arg });
      say(`${sub === 'add' ? 'added' : 'deleted'}: ${sub === 'add' ? input!.name : o.arg}; ${r.active} rules active of ${r.total}`);
    }
  } finally {
    client.close();
  }
  return 0;
}
