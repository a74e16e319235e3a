// A CodeCommit repository and an ECS cluster in memory, behind aws-sdk-client-mock, answering the
// commands the rollout loops send with the services' documented behaviour.
import {
  CodeCommitClient, CommentContentSizeLimitExceededException, FileDoesNotExistException, GetBranchCommand, GetCommitCommand,
  GetDifferencesCommand, GetFileCommand, InvalidFilePositionException, PathDoesNotExistException, PostCommentForComparedCommitCommand,
} from "@aws-sdk/client-codecommit";
import {
  DescribeServicesCommand, DescribeTaskDefinitionCommand, ECSClient, RegisterTaskDefinitionCommand, UpdateServiceCommand,
  type ContainerDefinition,
} from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { createHash } from "node:crypto";

export interface Comment {
  readonly afterCommitId: string;
  readonly beforeCommitId?: string;
  readonly content: string;
  readonly location?: { filePath?: string; filePosition?: number };
}

export class FakeRepository {
  readonly client = mockClient(CodeCommitClient);
  readonly commits = new Map<string, { parent?: string; files: Record<string, string> }>();
  readonly branches = new Map<string, string>();
  readonly comments: Comment[] = [];
  /** When set, every comment is refused with this error (after the documented checks). */
  refuseComments: Error | undefined;
  private readonly tokens = new Set<string>();
  readonly name: string;

  constructor(name: string) {
    this.name = name;
    this.client.on(GetBranchCommand).callsFake((input) => {
      const commitId = this.branches.get(input.branchName);
      if (!commitId) throw new Error(`no branch ${input.branchName}`);
      return { branch: { branchName: input.branchName, commitId } };
    });
    this.client.on(GetCommitCommand).callsFake((input) => {
      const commit = this.commits.get(input.commitId);
      return { commit: { commitId: input.commitId, parents: commit?.parent ? [commit.parent] : [] } };
    });
    this.client.on(GetFileCommand).callsFake((input) => {
      const content = this.commits.get(input.commitSpecifier)?.files[input.filePath];
      if (content === undefined) throw new FileDoesNotExistException({ message: "The specified file does not exist.", $metadata: {} });
      return { filePath: input.filePath, fileContent: new TextEncoder().encode(content) };
    });
    this.client.on(GetDifferencesCommand).callsFake((input) => {
      const before = this.commits.get(input.beforeCommitSpecifier)?.files ?? {};
      const after = this.commits.get(input.afterCommitSpecifier)!.files;
      const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((p) => before[p] !== after[p]).sort();
      return {
        differences: paths.map((p) => ({
          ...(p in before ? { beforeBlob: { path: p } } : {}),
          ...(p in after ? { afterBlob: { path: p } } : {}),
          changeType: !(p in before) ? "A" : !(p in after) ? "D" : "M",
        })),
      };
    });
    this.client.on(PostCommentForComparedCommitCommand).callsFake((input) => {
      if (input.clientRequestToken && this.tokens.has(input.clientRequestToken)) return {}; // idempotent retry
      // CodeCommit API reference, PostCommentForComparedCommit errors: CommentContentSizeLimitExceededException
      // ("Comments are limited to 10,240 characters"), PathDoesNotExistException, InvalidFilePositionException
      // ("Make sure that the line number exists in the version of the file you want to comment on").
      if (input.content.length > 10_240) {
        throw new CommentContentSizeLimitExceededException({ message: "The comment is too large. Comments are limited to 10,240 characters.", $metadata: {} });
      }
      this.checkLocation(input.afterCommitId, input.location);
      if (this.refuseComments) throw this.refuseComments;
      if (input.clientRequestToken) this.tokens.add(input.clientRequestToken);
      this.comments.push({
        afterCommitId: input.afterCommitId, beforeCommitId: input.beforeCommitId, content: input.content,
        ...(input.location ? { location: input.location } : {}),
      });
      return {};
    });
  }

  /** Commits files on top of the branch head and moves the branch; returns the commit id. */
  commit(branch: string, changes: Record<string, string | null>): string {
    const parent = this.branches.get(branch);
    const files = { ...(parent ? this.commits.get(parent)!.files : {}) };
    for (const [path, content] of Object.entries(changes)) {
      if (content === null) delete files[path];
      else files[path] = content;
    }
    const id = createHash("sha1").update(JSON.stringify([parent ?? "", files, this.commits.size])).digest("hex");
    this.commits.set(id, { ...(parent ? { parent } : {}), files });
    this.branches.set(branch, id);
    return id;
  }

  restore() {
    this.client.restore();
  }

  /** A located comment must name a file of the commit and a line it has (PathDoesNotExist, InvalidFilePosition). */
  protected checkLocation(afterCommitId: string, location: { filePath?: string | undefined; filePosition?: number | undefined } | undefined): void {
    if (location?.filePath === undefined) return;
    const content = this.commits.get(afterCommitId)?.files[location.filePath];
    if (content === undefined) throw new PathDoesNotExistException({ message: "The specified path does not exist.", $metadata: {} });
    const lines = content.endsWith("\n") ? content.split("\n").length - 1 : content.split("\n").length;
    const position = location.filePosition;
    if (position !== undefined && (position < 1 || position > lines)) throw new InvalidFilePositionException({ message: "The position is not valid.", $metadata: {} });
  }
}

export class FakeEcs {
  readonly client = mockClient(ECSClient);
  readonly services = new Map<string, { taskDefinition: string; deployments: string[] }>();
  readonly taskDefinitions = new Map<string, { family: string; containerDefinitions: ContainerDefinition[]; cpu: string; memory: string }>();
  private deploymentCounter = 0;

  constructor() {
    this.client.on(DescribeServicesCommand).callsFake((input) => ({
      services: input.services.flatMap((name: string) => {
        const service = this.services.get(`${input.cluster}/${name}`);
        return service ? [{ serviceName: name, taskDefinition: service.taskDefinition }] : [];
      }),
    }));
    this.client.on(DescribeTaskDefinitionCommand).callsFake((input) => {
      const definition = this.taskDefinitions.get(input.taskDefinition)!;
      return { taskDefinition: { ...structuredClone(definition), taskDefinitionArn: input.taskDefinition, revision: 1, status: "ACTIVE" }, tags: [{ key: "app", value: "proxy-fleet" }] };
    });
    this.client.on(RegisterTaskDefinitionCommand).callsFake((input) => {
      const revision = [...this.taskDefinitions.keys()].filter((arn) => arn.includes(`:task-definition/${input.family}:`)).length + 1;
      const arn = `arn:aws:ecs:us-east-1:123456789012:task-definition/${input.family}:${revision}`;
      this.taskDefinitions.set(arn, { family: input.family, containerDefinitions: input.containerDefinitions, cpu: input.cpu, memory: input.memory });
      return { taskDefinition: { taskDefinitionArn: arn, family: input.family, revision } };
    });
    this.client.on(UpdateServiceCommand).callsFake((input) => {
      const service = this.services.get(`${input.cluster}/${input.service}`)!;
      const id = `ecs-svc/${String(++this.deploymentCounter).padStart(19, "7")}`;
      service.taskDefinition = input.taskDefinition;
      service.deployments.push(id);
      return { service: { serviceName: input.service, deployments: [{ id, status: "PRIMARY", taskDefinition: input.taskDefinition }] } };
    });
  }

  addService(cluster: string, name: string, container: string) {
    const arn = `arn:aws:ecs:us-east-1:123456789012:task-definition/${name}:1`;
    this.taskDefinitions.set(arn, {
      family: name, cpu: "256", memory: "512",
      containerDefinitions: [{ name: container, image: `proxy-fleet/${name}:1`, environment: [{ name: "LOG_LEVEL", value: "info" }] }],
    });
    this.services.set(`${cluster}/${name}`, { taskDefinition: arn, deployments: [] });
  }

  restore() {
    this.client.restore();
  }
}
