// What every proxy-fleet Lambda shares: Node.js 22, logs that expire, and EventBridge's asynchronous
// invocation made safe. EventBridge invokes Lambda asynchronously: a function error gets Lambda's own retries
// and is then dropped unless the function has an on-failure destination; a rule's dead-letter queue covers
// only delivery failures (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html,
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html). So both go to one queue.
import {
  Duration, RemovalPolicy, type Stack, aws_events_targets as targets, aws_lambda_destinations as destinations, aws_logs as logs, aws_sqs as sqs,
} from "aws-cdk-lib";
import { Function, type FunctionProps } from "sst/constructs";
import { deploySettings } from "./settings.ts";
import { waiveDeadLetterFinding } from "./nag.ts";

export interface Loop {
  readonly fn: Function;
  readonly failures: sqs.Queue;
  /** The EventBridge target: delivery retried for at most maxEventAge, undeliverable events kept in `failures`. */
  readonly target: targets.LambdaFunction;
}

export interface LoopOptions {
  /** How old an event may get before it is no longer worth acting on (delivery and async retries). */
  readonly maxEventAge: Duration;
  /** Lambda's own retries of a failed invocation (0-2). */
  readonly retryAttempts: number;
}

export function loopFunction(stack: Stack, id: string, props: FunctionProps, options: LoopOptions): Loop {
  const { reservedConcurrency } = deploySettings();
  // Its own log group with a retention: no log-retention helper Lambda (and its logs:* on "*") is needed.
  const logGroup = new logs.LogGroup(stack, `${id}Logs`, { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
  const fn = new Function(stack, id, {
    logGroup,
    ...(reservedConcurrency ? { reservedConcurrentExecutions: reservedConcurrency } : {}),
    ...props,
  });
  const failures = new sqs.Queue(stack, `${id}Failures`, { enforceSSL: true, retentionPeriod: Duration.days(14) });
  waiveDeadLetterFinding(failures);
  fn.configureAsyncInvoke({
    maxEventAge: options.maxEventAge,
    retryAttempts: options.retryAttempts,
    onFailure: new destinations.SqsDestination(failures),
  });
  const target = new targets.LambdaFunction(fn, { deadLetterQueue: failures, retryAttempts: 20, maxEventAge: options.maxEventAge });
  return { fn, failures, target };
}
