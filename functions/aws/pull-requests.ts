// Pull requests on the config repository in CodeCommit: read one, its comments, post and replace comments,
// approve or revoke. Trees and differences come from the repository adapter (./codecommit.ts).
//
//   call                              rule (CodeCommit API reference)
//   --------------------------------  ---------------------------------------------------------------------
//   UpdateComment                     only the comment's author may edit it: CommentNotCreatedByCallerException
//   UpdatePullRequestApprovalState    names the pull request's current revisionId (GetPullRequest), else
//                                     RevisionNotCurrentException; the caller must be in an approval rule's
//                                     pool, and may not approve a pull request it authored
//   PostCommentForPullRequest         content ≤ 10,240 characters; a location's file must exist in the commit
import { createHash } from "node:crypto";
import {
  CommentNotCreatedByCallerException, GetPullRequestCommand, PostCommentForPullRequestCommand, RevisionNotCurrentException,
  UpdateCommentCommand, UpdatePullRequestApprovalStateCommand, paginateGetCommentsForPullRequest, type CodeCommitClient,
} from "@aws-sdk/client-codecommit";
import type { PullRequest, PullRequestComment, PullRequestPort, ReviewPorts } from "../review/ports.ts";
import { codeCommitClient, requireEnv, s3Client } from "./clients.ts";
import { codeCommitRepository } from "./codecommit.ts";
import { acceptedConfig } from "./config-bucket.ts";

/**
 * The review's ports from the Lambda environment: CONFIG_REPOSITORY, CONFIG_BRANCH (default main) and
 * CONFIG_BUCKET (the accepted config it compares with; read only).
 */
export function reviewSettings() {
  return { repository: requireEnv("CONFIG_REPOSITORY"), branch: process.env.CONFIG_BRANCH ?? "main" };
}

/** The review's clients only: CodeCommit and S3. */
export function reviewPorts(instrument: <T>(client: T) => T = (c) => c): ReviewPorts {
  const { repository, branch } = reviewSettings();
  return {
    repository, branch,
    pullRequests: codeCommitPullRequests(instrument(codeCommitClient()), repository),
    accepted: acceptedConfig(instrument(s3Client()), requireEnv("CONFIG_BUCKET")),
  };
}

export function codeCommitPullRequests(client: CodeCommitClient, repositoryName: string): PullRequestPort {
  const repository = codeCommitRepository(client, repositoryName);
  return {
    async get(id) {
      const { pullRequest } = await client.send(new GetPullRequestCommand({ pullRequestId: id }));
      const target = pullRequest?.pullRequestTargets?.find((t) => t.repositoryName === repositoryName);
      if (!pullRequest?.revisionId || !target?.sourceCommit || !target.destinationCommit || !target.destinationReference) {
        throw new Error(`pull request ${id} has no target in ${repositoryName}`);
      }
      return {
        id, revisionId: pullRequest.revisionId, open: pullRequest.pullRequestStatus === "OPEN", repositoryName,
        destinationReference: target.destinationReference, destinationCommit: target.destinationCommit, sourceCommit: target.sourceCommit,
        ...(target.mergeBase ? { mergeBase: target.mergeBase } : {}),
      };
    },
    changedPaths: (before, after) => repository.changedPaths(before, after),
    treeAt: (commit) => repository.treeAt(commit),
    async comments(pr) {
      const found: PullRequestComment[] = [];
      for await (const page of paginateGetCommentsForPullRequest({ client }, { pullRequestId: pr.id, repositoryName })) {
        for (const thread of page.commentsForPullRequestData ?? []) {
          for (const comment of thread.comments ?? []) {
            if (comment.commentId && comment.content && !comment.deleted && !comment.inReplyTo) found.push({ id: comment.commentId, content: comment.content });
          }
        }
      }
      return found;
    },
    async post(pr, content, location) {
      await client.send(new PostCommentForPullRequestCommand({
        pullRequestId: pr.id, repositoryName, beforeCommitId: pr.destinationCommit, afterCommitId: pr.sourceCommit, content,
        clientRequestToken: commentToken(pr, content, location),
        ...(location ? { location: { filePath: location.filePath, filePosition: location.filePosition, relativeFileVersion: "AFTER" } } : {}),
      }));
    },
    async update(commentId, content) {
      try {
        await client.send(new UpdateCommentCommand({ commentId, content }));
        return true;
      } catch (error) {
        if (error instanceof CommentNotCreatedByCallerException) return false;
        throw error;
      }
    },
    async approve(pr, approved) {
      try {
        await client.send(new UpdatePullRequestApprovalStateCommand({ pullRequestId: pr.id, revisionId: pr.revisionId, approvalState: approved ? "APPROVE" : "REVOKE" }));
        return true;
      } catch (error) {
        if (error instanceof RevisionNotCurrentException) return false;
        throw error;
      }
    },
  };
}

/** CodeCommit's idempotency token: the same text at the same place on the same commits is posted once. */
export function commentToken(pr: PullRequest, content: string, location?: { filePath: string; filePosition: number }): string {
  return createHash("sha256").update(JSON.stringify([pr.id, pr.destinationCommit, pr.sourceCommit, content, location ?? null])).digest("hex").slice(0, 64);
}
