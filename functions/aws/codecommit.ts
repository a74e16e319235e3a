// The config repository in CodeCommit: branch heads, diffs, files at a commit, and comments on commits.
import { createHash } from "node:crypto";
import {
  FileDoesNotExistException, GetBranchCommand, GetCommitCommand, GetFileCommand, PostCommentForComparedCommitCommand,
  paginateGetDifferences, type CodeCommitClient,
} from "@aws-sdk/client-codecommit";
import type { Repository } from "../rollout/ports.ts";

export function codeCommitRepository(client: CodeCommitClient, repositoryName: string): Repository {
  return {
    name: repositoryName,
    async branchHead(branch) {
      const { branch: info } = await client.send(new GetBranchCommand({ repositoryName, branchName: branch }));
      if (!info?.commitId) throw new Error(`branch ${branch} of ${repositoryName} has no commit`);
      return info.commitId;
    },
    async parentOf(commit) {
      const { commit: info } = await client.send(new GetCommitCommand({ repositoryName, commitId: commit }));
      return info?.parents?.[0];
    },
    async changedPaths(before, after) {
      const paths = new Set<string>();
      for await (const page of paginateGetDifferences({ client }, { repositoryName, beforeCommitSpecifier: before, afterCommitSpecifier: after })) {
        for (const difference of page.differences ?? []) {
          if (difference.beforeBlob?.path) paths.add(difference.beforeBlob.path);
          if (difference.afterBlob?.path) paths.add(difference.afterBlob.path);
        }
      }
      return [...paths].sort();
    },
    treeAt(commit) {
      return {
        async read(path) {
          try {
            const { fileContent } = await client.send(new GetFileCommand({ repositoryName, commitSpecifier: commit, filePath: path }));
            return fileContent ? Buffer.from(fileContent).toString("utf8") : "";
          } catch (error) {
            if (error instanceof FileDoesNotExistException) return undefined;
            throw error;
          }
        },
      };
    },
    async comment(before, after, content, location) {
      // The token makes a retried post (same commit, same text, same place) a no-op.
      const clientRequestToken = createHash("sha256").update(JSON.stringify([after, content, location ?? null])).digest("hex").slice(0, 64);
      await client.send(new PostCommentForComparedCommitCommand({
        repositoryName,
        ...(before ? { beforeCommitId: before } : {}),
        afterCommitId: after,
        content,
        clientRequestToken,
        ...(location ? { location: { filePath: location.filePath, filePosition: location.filePosition, relativeFileVersion: "AFTER" } } : {}),
      }));
    },
  };
}
