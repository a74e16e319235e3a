// Pull requests on the in-memory CodeCommit repository (test/support/fake-repo.ts), answering the commands the
// review sends with CodeCommit's documented behaviour (CodeCommit API reference):
// - PostCommentForPullRequest / UpdateComment: content ≤ 10,240 characters (CommentContentSizeLimitExceededException);
//   a location's file must exist in the after commit (PathDoesNotExistException) and its line in the file
//   (InvalidFilePositionException); a repeated clientRequestToken posts nothing new.
// - UpdateComment: "Only comment authors can modify or delete their comments" (CommentNotCreatedByCallerException).
// - UpdatePullRequestApprovalState: the revisionId must be the pull request's current one (RevisionNotCurrentException).
import {
  CommentContentSizeLimitExceededException, CommentNotCreatedByCallerException, GetCommentsForPullRequestCommand, GetPullRequestCommand,
  PostCommentForPullRequestCommand, RevisionNotCurrentException,
  UpdateCommentCommand, UpdatePullRequestApprovalStateCommand,
} from "@aws-sdk/client-codecommit";
import { FakeRepository } from "../support/fake-repo.ts";

export const REVIEWER = "arn:aws:sts::123456789012:assumed-role/proxy-fleet-test-PullRequestReview/proxy-fleet-test-PullRequestReview";
export const COMMENT_LIMIT = 10_240;

export interface PrComment {
  readonly commentId: string;
  content: string;
  readonly authorArn: string;
  readonly beforeCommitId: string;
  readonly afterCommitId: string;
  readonly location?: { filePath: string; filePosition: number };
  edits: number;
}

interface FakePr {
  readonly id: string;
  revision: number;
  open: boolean;
  readonly sourceBranch: string;
  readonly destinationBranch: string;
}

export class FakePullRequests extends FakeRepository {
  readonly prs = new Map<string, FakePr>();
  readonly prComments: PrComment[] = [];
  readonly approvals: Array<{ pullRequestId: string; revisionId: string; state: string }> = [];
  private readonly prTokens = new Set<string>();

  constructor(name: string) {
    super(name);
    this.client.on(GetPullRequestCommand).callsFake((input) => {
      const pr = this.prs.get(input.pullRequestId)!;
      return {
        pullRequest: {
          pullRequestId: pr.id, title: "New database port", pullRequestStatus: pr.open ? "OPEN" : "CLOSED", revisionId: this.revisionOf(pr),
          pullRequestTargets: [{
            repositoryName: this.name, sourceReference: `refs/heads/${pr.sourceBranch}`, destinationReference: `refs/heads/${pr.destinationBranch}`,
            sourceCommit: this.branches.get(pr.sourceBranch), destinationCommit: this.branches.get(pr.destinationBranch),
            mergeBase: this.mergeBase(pr), mergeMetadata: { isMerged: false },
          }],
        },
      };
    });
    this.client.on(GetCommentsForPullRequestCommand).callsFake((input) => ({
      commentsForPullRequestData: this.prComments.filter(() => this.prs.has(input.pullRequestId)).map((c) => ({
        pullRequestId: input.pullRequestId, repositoryName: this.name, beforeCommitId: c.beforeCommitId, afterCommitId: c.afterCommitId,
        ...(c.location ? { location: { ...c.location, relativeFileVersion: "AFTER" } } : {}),
        comments: [{ commentId: c.commentId, content: c.content, authorArn: c.authorArn, deleted: false }],
      })),
    }));
    this.client.on(PostCommentForPullRequestCommand).callsFake((input) => {
      if (input.clientRequestToken && this.prTokens.has(input.clientRequestToken)) return {};
      this.checkSize(input.content);
      this.checkLocation(input.afterCommitId, input.location);
      if (input.clientRequestToken) this.prTokens.add(input.clientRequestToken);
      const comment: PrComment = {
        commentId: `comment-${this.prComments.length + 1}`, content: input.content, authorArn: REVIEWER,
        beforeCommitId: input.beforeCommitId, afterCommitId: input.afterCommitId, edits: 0,
        ...(input.location ? { location: { filePath: input.location.filePath, filePosition: input.location.filePosition } } : {}),
      };
      this.prComments.push(comment);
      return { comment: { commentId: comment.commentId, content: comment.content, authorArn: REVIEWER } };
    });
    this.client.on(UpdateCommentCommand).callsFake((input) => {
      const comment = this.prComments.find((c) => c.commentId === input.commentId)!;
      if (comment.authorArn !== REVIEWER) {
        throw new CommentNotCreatedByCallerException({ message: "You cannot modify or delete this comment. Only comment authors can modify or delete their comments.", $metadata: {} });
      }
      this.checkSize(input.content);
      comment.content = input.content;
      comment.edits++;
      return { comment: { commentId: comment.commentId, content: comment.content } };
    });
    this.client.on(UpdatePullRequestApprovalStateCommand).callsFake((input) => {
      const pr = this.prs.get(input.pullRequestId)!;
      if (input.revisionId !== this.revisionOf(pr)) {
        throw new RevisionNotCurrentException({ message: "The revision ID is not the current revision of the pull request.", $metadata: {} });
      }
      this.approvals.push({ pullRequestId: pr.id, revisionId: input.revisionId, state: input.approvalState });
      return {};
    });
  }

  /** Opens a pull request from `source` into `destination`; the source branch must exist. */
  open(id: string, source: string, destination: string): void {
    this.prs.set(id, { id, revision: 1, open: true, sourceBranch: source, destinationBranch: destination });
  }

  /** Commits on a branch (forking it from `from` when new); a pull request from it gets a new revision. */
  push(branch: string, changes: Record<string, string | null>, from?: string): string {
    if (!this.branches.has(branch) && from) this.branches.set(branch, this.branches.get(from)!);
    const commit = this.commit(branch, changes);
    for (const pr of this.prs.values()) if (pr.sourceBranch === branch) pr.revision++;
    return commit;
  }

  /** A comment someone else wrote. */
  commentAs(author: string, content: string): void {
    const pr = [...this.prs.values()][0]!;
    this.prComments.push({
      commentId: `comment-${this.prComments.length + 1}`, content, authorArn: author, edits: 0,
      beforeCommitId: this.branches.get(pr.destinationBranch)!, afterCommitId: this.branches.get(pr.sourceBranch)!,
    });
  }

  private revisionOf(pr: FakePr): string {
    return `${pr.id}-revision-${pr.revision}`;
  }

  /** The first commit on the destination branch's history that the source branch's history holds. */
  private mergeBase(pr: FakePr): string | undefined {
    const ancestors = (commit: string | undefined) => {
      const seen: string[] = [];
      for (let c = commit; c; c = this.commits.get(c)?.parent) seen.push(c);
      return seen;
    };
    const source = new Set(ancestors(this.branches.get(pr.sourceBranch)));
    return ancestors(this.branches.get(pr.destinationBranch)).find((c) => source.has(c));
  }

  private checkSize(content: string): void {
    if (content.length > COMMENT_LIMIT) {
      throw new CommentContentSizeLimitExceededException({ message: "The comment is too large. Comments are limited to 10,240 characters.", $metadata: {} });
    }
  }
}
