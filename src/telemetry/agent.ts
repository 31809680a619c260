// The agent's `metrics:` and `otlp:` sections (src/agent/exporters.ts): the
// Prometheus endpoint and the OTLP metric export over the agent's pipeline
// and process cache. Imported for its registrations by the agent command.
import { registerExporter, type ExporterContext } from '../agent/exporters.js';
import { startMetrics } from './prometheus.js';
import { OtlpMetrics } from './otlp.js';

/** A string field of a section; refused (the agent names the section) when absent or not text. */
function text(ctx: ExporterContext, section: string, key: string): string {
  const v = ctx.section[key];
  if (typeof v !== 'string' || v === '') throw new Error(`${section}.${key}: expected text, got ${JSON.stringify(v)}`);
  return v;
}

registerExporter('metrics', async (ctx) => {
  const server = await startMetrics(ctx.sources, text(ctx, 'metrics', 'address'));
  ctx.log.info({ url: server.url }, 'metrics served');
  return { close: () => server.close() };
});

registerExporter('otlp', async (ctx) => {
  const endpoint = text(ctx, 'otlp', 'endpoint');
  const interval = ctx.section.interval ?? 10;
  if (typeof interval !== 'number' || !(interval > 0)) throw new Error(`otlp.interval: expected seconds, got ${JSON.stringify(interval)}`);
  const metrics = OtlpMetrics.start({ sources: ctx.sources, bpfStats: false }, { endpoint, intervalMs: interval * 1000 });
  ctx.log.info({ endpoint }, 'otlp metrics exported');
  return {
    close: async () => {
      await metrics.close();
    },
  };
});
