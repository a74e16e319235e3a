// What the pull-request review needs from the outside world; functions/aws/pull-requests.ts implements it
// against CodeCommit and the config bucket.
import type { AcceptedSnapshot } from "../dns/ports.ts";
import type { ConfigTree } from "../fleet/tree.ts";
import type { CommentLocation } from "../rollout/ports.ts";

export interface PullRequest {
  readonly id: string;
  /** Changes with every update; an approval names the revision it approves. */
  readonly revisionId: string;
  readonly open: boolean;
  readonly repositoryName: string;
  /** "refs/heads/<branch>". */
  readonly destinationReference: string;
  readonly destinationCommit: string;
  /** The source branch's head now: the only commit worth reporting on. */
  readonly sourceCommit: string;
  /** Where the branches met: the change under review is mergeBase → sourceCommit. */
  readonly mergeBase?: string;
}

export interface PullRequestComment {
  readonly id: string;
  readonly content: string;
}

export interface PullRequestPort {
  get(id: string): Promise<PullRequest>;
  /** Paths changed between two commits (both sides of renames). */
  changedPaths(before: string, after: string): Promise<string[]>;
  treeAt(commit: string): ConfigTree;
  /** The pull request's comments that are not replies, in the order CodeCommit lists them. */
  comments(pr: PullRequest): Promise<PullRequestComment[]>;
  /** Idempotent: the same comment on the same commits and place is posted once. */
  post(pr: PullRequest, content: string, location?: CommentLocation): Promise<void>;
  /** Replaces a comment's content; false when the comment is not this reviewer's own (only authors may edit). */
  update(commentId: string, content: string): Promise<boolean>;
  /** Approves or revokes this reviewer's approval of `revisionId`; false when the pull request moved on meanwhile. */
  approve(pr: PullRequest, approved: boolean): Promise<boolean>;
}

export interface ReviewPorts {
  readonly pullRequests: PullRequestPort;
  /** The tracked branch's accepted config, what the fleet runs: the baseline the change is compared with. */
  readonly accepted: { load(): Promise<AcceptedSnapshot | undefined> };
  readonly repository: string;
  readonly branch: string;
}
