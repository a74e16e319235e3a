// Shared Lambda wiring: Powertools logger, metrics and tracer for one loop, and the middy stack every
// handler uses (tracing, context in logs, metrics flushed, the event parsed safely).
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { Tracer } from "@aws-lambda-powertools/tracer";
import { captureLambdaHandler } from "@aws-lambda-powertools/tracer/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { parser } from "@aws-lambda-powertools/parser/middleware";
import middy, { type MiddlewareObj } from "@middy/core";
import { EventBridgeSchema } from "@aws-lambda-powertools/parser/schemas/eventbridge";
import * as z from "zod";

export function powertools(serviceName: string) {
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ namespace: "ProxyFleet", serviceName });
  const tracer = new Tracer({ serviceName });
  const middlewares: MiddlewareObj[] = [captureLambdaHandler(tracer), injectLambdaContext(logger), logMetrics(metrics)];
  return { logger, metrics, tracer, middlewares, instrument: <T>(client: T): T => tracer.captureAWSv3Client(client) };
}

/** What was wrong with an event, field by field, from the parser's zod issues. */
export function eventProblems(error: Error): string[] {
  type Issue = { path: PropertyKey[]; message: string };
  const cause = error.cause as Issue[] | { issues?: Issue[] } | undefined;
  const issues = Array.isArray(cause) ? cause : cause?.issues;
  return issues?.map((issue) => `${issue.path.map(String).join(".") || "(event)"}: ${issue.message}`) ?? [error.message];
}

export type Powertools = ReturnType<typeof powertools>;

/** EventBridge "Scheduled Event": the schedule every loop runs on says only "look at everything now". */
export const ScheduledEvent = EventBridgeSchema.extend({
  "detail-type": z.literal("Scheduled Event"),
  source: z.literal("aws.events"),
});

/**
 * Builds a value on first use and keeps it for the execution environment's life: SDK clients (and the
 * tracer's instrumentation of them) are made once per cold start, not once per invocation.
 */
export function once<T>(make: () => T): () => T {
  let value: { made: T } | undefined;
  return () => (value ??= { made: make() }).made;
}

/**
 * A handler: Powertools middleware, the event parsed against its AWS-documented shape, and `run` called with
 * it. A malformed event is logged field by field, counted, and answered without touching anything.
 */
export function eventHandler<S extends z.ZodType, R>(tools: Powertools, schema: S, run: (event: z.output<S>) => Promise<R>) {
  return middy()
    .use(tools.middlewares)
    .use(parser({ schema, safeParse: true }))
    .handler(async (result) => {
      const parsed = result as { success: true; data: z.output<S> } | { success: false; error: Error };
      if (!parsed.success) {
        tools.logger.error("rejected a malformed event; nothing was changed", { problems: eventProblems(parsed.error) });
        tools.metrics.addMetric("MalformedEvents", MetricUnit.Count, 1);
        return { rejected: true as const };
      }
      return run(parsed.data);
    });
}
