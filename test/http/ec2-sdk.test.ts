// The EC2 Query API driven by the AWS SDK for JavaScript v3, unmodified, against the Worker
// behind wrangler's dev server: a client pointed at the endpoint with an account's access key.
import {
  AllocateHostsCommand,
  AttachVolumeCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateNetworkAclCommand,
  CreateNetworkAclEntryCommand,
  CreatePlacementGroupCommand,
  CreateSecurityGroupCommand,
  CreateSnapshotCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  CreateVpcCommand,
  DeletePlacementGroupCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeAvailabilityZonesCommand,
  DescribeHostsCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeNetworkAclsCommand,
  DescribePlacementGroupsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeTagsCommand,
  DescribeVolumesCommand,
  DescribeVpcsCommand,
  DetachVolumeCommand,
  EC2Client,
  type Instance,
  paginateDescribeInstances,
  RebootInstancesCommand,
  ReleaseHostsCommand,
  ReplaceNetworkAclAssociationCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { SignatureV4 } from "@smithy/signature-v4";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { WebSha256 } from "../web-sha256";

const base = inject("httpBase");
const adminKey = inject("adminKey");

async function api<T>(method: string, path: string, key: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

interface Account {
  accountId: string;
  apiKey: string;
  accessKeyId: string;
  secretAccessKey: string;
}

async function newAccount(name: string): Promise<Account> {
  const made = await api<{ account: { accountId: string }; key: { apiKey: string } }>(
    "POST",
    "/v1/accounts",
    adminKey,
    { name },
  );
  const key = await api<{ accessKeyId: string; secretAccessKey: string }>(
    "POST",
    `/v1/accounts/${made.account.accountId}/access-keys`,
    made.key.apiKey,
  );
  return { accountId: made.account.accountId, apiKey: made.key.apiKey, ...key };
}

const client = (a: Pick<Account, "accessKeyId" | "secretAccessKey">) =>
  new EC2Client({
    endpoint: base,
    region: "us-east-1",
    credentials: { accessKeyId: a.accessKeyId, secretAccessKey: a.secretAccessKey },
  });

let n = 0;
/** A zone of this file's own, so that other files' launches never land in it. */
const freshZone = () =>
  `zz-sdk${[...`${Date.now().toString(36)}${(n++).toString(36)}`].map((c) => (/\d/.test(c) ? String.fromCharCode(97 + +c) : c)).join("")}-1a`;

async function addHost(zone: string, family = "m5") {
  return api<{ hostId: string }>("POST", "/v1/hosts", adminKey, { availabilityZone: zone, family });
}

const advance = (seconds: number) => api("POST", "/v1/admin/clock/advance", adminKey, { seconds });

/** The error a command fails with: its name (EC2's code) and message. */
async function failure(p: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error("the command succeeded");
}

const states = (list: Instance[] | undefined) =>
  Object.fromEntries((list ?? []).map((i) => [i.InstanceId, i.State?.Name]));

let me: Account;
let ec2: EC2Client;
let zone: string;
let hostId: string;

beforeAll(async () => {
  me = await newAccount("sdk");
  ec2 = client(me);
  zone = freshZone();
  ({ hostId } = await addHost(zone));
});

async function launch(
  count: number,
  extra: Partial<ConstructorParameters<typeof RunInstancesCommand>[0]> = {},
) {
  return ec2.send(
    new RunInstancesCommand({
      InstanceType: "m5.large",
      MinCount: count,
      MaxCount: count,
      Placement: { AvailabilityZone: zone },
      ...extra,
    }),
  );
}

describe("the AWS SDK against the EC2 endpoint", () => {
  it("launches with tags, describes with filters, and sees the instances boot", async () => {
    const res = await launch(3, {
      TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "team", Value: "web & api" }] }],
    });
    expect(res.OwnerId).toBe(me.accountId);
    expect(res.Instances).toHaveLength(3);
    for (const i of res.Instances ?? []) {
      expect(i.State).toEqual({ Code: 0, Name: "pending" });
      expect(i.Placement?.AvailabilityZone).toBe(zone);
      expect(i.Placement?.HostId).toBe(hostId);
      expect(i.Tags).toEqual([{ Key: "team", Value: "web & api" }]);
    }
    const ids = (res.Instances ?? []).map((i) => i.InstanceId!).sort();

    const described = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: "tag:team", Values: ["web & api"] },
          { Name: "availability-zone", Values: [zone] },
          { Name: "instance-state-name", Values: ["pending"] },
        ],
      }),
    );
    expect(described.Reservations).toHaveLength(1);
    expect(described.Reservations?.[0].ReservationId).toBe(res.ReservationId);
    expect((described.Reservations?.[0].Instances ?? []).map((i) => i.InstanceId).sort()).toEqual(ids);
    // tag-key, and a filter nothing matches.
    const byKey = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: "tag-key", Values: ["team"] }] }),
    );
    expect(
      byKey.Reservations?.flatMap((r) => r.Instances ?? [])
        .map((i) => i.InstanceId)
        .sort(),
    ).toEqual(ids);
    const none = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: "tag:team", Values: ["db"] }] }),
    );
    expect(none.Reservations).toEqual([]);

    await advance(60);
    const booted = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
    expect(states(booted.Reservations?.[0].Instances)).toEqual(
      Object.fromEntries(ids.map((id) => [id, "running"])),
    );
  });

  it("pages DescribeInstances with MaxResults and NextToken, every instance exactly once", async () => {
    const pageZone = freshZone();
    await addHost(pageZone);
    const launched = await ec2.send(
      new RunInstancesCommand({
        InstanceType: "m5.large",
        MinCount: 12,
        MaxCount: 12,
        Placement: { AvailabilityZone: pageZone },
      }),
    );
    const want = (launched.Instances ?? []).map((i) => i.InstanceId).sort();
    const seen: string[] = [];
    let pages = 0;
    for await (const page of paginateDescribeInstances(
      { client: ec2, pageSize: 5 },
      { Filters: [{ Name: "availability-zone", Values: [pageZone] }] },
    )) {
      pages++;
      const items = (page.Reservations ?? []).flatMap((r) => r.Instances ?? []);
      expect(items.length).toBeLessThanOrEqual(5);
      seen.push(...items.map((i) => i.InstanceId!));
    }
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(want);
    // EC2's bounds on a page.
    expect((await failure(ec2.send(new DescribeInstancesCommand({ MaxResults: 4 })))).name).toBe(
      "InvalidParameterValue",
    );
  });

  it("stops (stopping, then stopped), starts, reboots and terminates, with each state change", async () => {
    const [inst] = (await launch(1)).Instances ?? [];
    const id = inst.InstanceId!;
    await advance(60);
    const stop = await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
    expect(stop.StoppingInstances).toEqual([
      {
        InstanceId: id,
        CurrentState: { Code: 64, Name: "stopping" },
        PreviousState: { Code: 16, Name: "running" },
      },
    ]);
    await advance(60);
    const stopped = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    const after = stopped.Reservations?.[0].Instances?.[0];
    expect(after?.State).toEqual({ Code: 80, Name: "stopped" });
    expect(after?.Placement?.HostId).toBeUndefined();
    expect(after?.StateReason?.Code).toBe("Client.UserInitiatedShutdown");

    // Reboot needs a running instance: a stopped one is IncorrectInstanceState, and changes nothing.
    const refused = await failure(ec2.send(new RebootInstancesCommand({ InstanceIds: [id] })));
    expect(refused.name).toBe("IncorrectInstanceState");
    expect(refused.status).toBe(400);

    const start = await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
    expect(start.StartingInstances?.[0].CurrentState).toEqual({ Code: 0, Name: "pending" });
    expect(start.StartingInstances?.[0].PreviousState).toEqual({ Code: 80, Name: "stopped" });
    await advance(60);
    await ec2.send(new RebootInstancesCommand({ InstanceIds: [id] }));
    const rebooted = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    expect(rebooted.Reservations?.[0].Instances?.[0].State?.Name).toBe("running");

    const term = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(term.TerminatingInstances?.[0]).toEqual({
      InstanceId: id,
      CurrentState: { Code: 32, Name: "shutting-down" },
      PreviousState: { Code: 16, Name: "running" },
    });
    await advance(60);
    const gone = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    expect(gone.Reservations?.[0].Instances?.[0].State).toEqual({ Code: 48, Name: "terminated" });
  });

  it("launches once for a client token used twice, and refuses it with other parameters", async () => {
    const token = `deploy-${Date.now()}`;
    const first = await launch(2, { ClientToken: token });
    const again = await launch(2, { ClientToken: token });
    expect(again.ReservationId).toBe(first.ReservationId);
    expect((again.Instances ?? []).map((i) => i.InstanceId).sort()).toEqual(
      (first.Instances ?? []).map((i) => i.InstanceId).sort(),
    );
    const mismatch = await failure(launch(3, { ClientToken: token }));
    expect(mismatch.name).toBe("IdempotentParameterMismatch");
    const mine = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: "client-token", Values: [token] }] }),
    );
    expect(mine.Reservations?.flatMap((r) => r.Instances ?? [])).toHaveLength(2);
  });

  it("answers InsufficientInstanceCapacity when nothing fits, and launches nothing", async () => {
    const small = freshZone();
    await addHost(small);
    await ec2.send(
      new RunInstancesCommand({
        InstanceType: "m5.24xlarge",
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: small },
      }),
    );
    const full = await failure(
      ec2.send(
        new RunInstancesCommand({
          InstanceType: "m5.24xlarge",
          MinCount: 1,
          MaxCount: 1,
          Placement: { AvailabilityZone: small },
        }),
      ),
    );
    expect(full.name).toBe("InsufficientInstanceCapacity");
    expect(full.message).toContain("m5.24xlarge");
    const there = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: "availability-zone", Values: [small] }] }),
    );
    expect(there.Reservations?.flatMap((r) => r.Instances ?? [])).toHaveLength(1);
  });

  it("adds, lists and removes tags, on a running and a stopped instance alike", async () => {
    const [a, b] = (await launch(2)).Instances ?? [];
    await advance(60);
    await ec2.send(new StopInstancesCommand({ InstanceIds: [b.InstanceId!] }));
    await advance(60);
    const ids = [a.InstanceId!, b.InstanceId!];
    await ec2.send(
      new CreateTagsCommand({
        Resources: ids,
        Tags: [
          { Key: "env", Value: "prod" },
          { Key: "owner", Value: "ana" },
        ],
      }),
    );
    const listed = await ec2.send(
      new DescribeTagsCommand({ Filters: [{ Name: "resource-id", Values: ids }] }),
    );
    expect(listed.Tags?.map((t) => `${t.ResourceId} ${t.Key}=${t.Value}`).sort()).toEqual(
      ids.flatMap((id) => [`${id} env=prod`, `${id} owner=ana`]).sort(),
    );
    // A value that does not match keeps the tag; a key alone removes it whatever its value.
    await ec2.send(
      new DeleteTagsCommand({ Resources: ids, Tags: [{ Key: "env", Value: "dev" }, { Key: "owner" }] }),
    );
    const byKey = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: "tag:env", Values: ["prod"] },
          { Name: "instance-id", Values: ids },
        ],
      }),
    );
    const tagged = byKey.Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
    expect(tagged.map((i) => i.InstanceId).sort()).toEqual([...ids].sort());
    for (const i of tagged) expect(i.Tags).toEqual([{ Key: "env", Value: "prod" }]);
    // Pages of DescribeTags.
    await ec2.send(
      new CreateTagsCommand({
        Resources: ids,
        Tags: Array.from({ length: 5 }, (_, k) => ({ Key: `k${k}`, Value: "v" })),
      }),
    );
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await ec2.send(
        new DescribeTagsCommand({
          Filters: [{ Name: "resource-id", Values: ids }],
          MaxResults: 5,
          NextToken: token,
        }),
      );
      expect(page.Tags?.length ?? 0).toBeLessThanOrEqual(5);
      seen.push(...(page.Tags ?? []).map((t) => `${t.ResourceId} ${t.Key}`));
      token = page.NextToken;
    } while (token);
    expect(seen).toHaveLength(12);
    expect(new Set(seen).size).toBe(12);
  });

  it("answers a dry run with DryRunOperation and launches nothing", async () => {
    const dryZone = freshZone();
    await addHost(dryZone);
    const dry = await failure(
      ec2.send(
        new RunInstancesCommand({
          InstanceType: "m5.large",
          MinCount: 1,
          MaxCount: 1,
          DryRun: true,
          Placement: { AvailabilityZone: dryZone },
        }),
      ),
    );
    expect(dry.name).toBe("DryRunOperation");
    expect(dry.status).toBe(412);
    const there = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: "availability-zone", Values: [dryZone] }] }),
    );
    expect(there.Reservations).toEqual([]);
  });

  it("describes instance types, zones, the hosts under the account's instances and their status", async () => {
    const types = await ec2.send(
      new DescribeInstanceTypesCommand({
        Filters: [
          { Name: "instance-type", Values: ["m5.*"] },
          { Name: "vcpu-info.default-vcpus", Values: ["2", "4"] },
        ],
      }),
    );
    expect(types.InstanceTypes?.map((t) => t.InstanceType).sort()).toEqual(["m5.large", "m5.xlarge"]);
    const m5 = types.InstanceTypes?.find((t) => t.InstanceType === "m5.large");
    expect(m5?.Hypervisor).toBe("nitro");
    expect(m5?.MemoryInfo?.SizeInMiB).toBe(8192);
    const zones = await ec2.send(new DescribeAvailabilityZonesCommand({ ZoneNames: [zone] }));
    expect(zones.AvailabilityZones).toEqual([
      expect.objectContaining({ ZoneName: zone, State: "available", RegionName: zone.slice(0, -1) }),
    ]);
    const hosts = await ec2.send(new DescribeHostsCommand({ HostIds: [hostId] }));
    expect(hosts.Hosts?.[0].HostId).toBe(hostId);
    expect(hosts.Hosts?.[0].HostProperties?.InstanceFamily).toBe("m5");
    expect(hosts.Hosts?.[0].Instances?.every((i) => i.OwnerId === me.accountId)).toBe(true);
    const status = await ec2.send(
      new DescribeInstanceStatusCommand({ Filters: [{ Name: "availability-zone", Values: [zone] }] }),
    );
    expect(status.InstanceStatuses?.length).toBeGreaterThan(0);
    for (const s of status.InstanceStatuses ?? []) {
      expect(s.InstanceState?.Name).toBe("running");
      expect(s.InstanceStatus?.Status).toBe("ok");
    }
  });

  it("keeps accounts apart: another account's instance does not exist for this one", async () => {
    const [mine] = (await launch(1)).Instances ?? [];
    const other = client(await newAccount("other"));
    const res = await failure(other.send(new DescribeInstancesCommand({ InstanceIds: [mine.InstanceId!] })));
    expect(res.name).toBe("InvalidInstanceID.NotFound");
    expect(
      (await failure(other.send(new StopInstancesCommand({ InstanceIds: [mine.InstanceId!] })))).name,
    ).toBe("InvalidInstanceID.NotFound");
    const all = await other.send(new DescribeInstancesCommand({}));
    expect(all.Reservations).toEqual([]);
  });

  it("refuses a bad signature, an unknown key and a deactivated one", async () => {
    // The secret with its last character changed (to another one: a secret ending in X stays wrong).
    const wrong = client({
      accessKeyId: me.accessKeyId,
      secretAccessKey: `${me.secretAccessKey.slice(0, -1)}${me.secretAccessKey.endsWith("X") ? "Y" : "X"}`,
    });
    const bad = await failure(wrong.send(new DescribeInstancesCommand({})));
    expect(bad.name).toBe("SignatureDoesNotMatch");
    expect(bad.status).toBe(403);
    const unknown = client({ accessKeyId: "AKIAAAAAAAAAAAAAAAAA", secretAccessKey: me.secretAccessKey });
    expect((await failure(unknown.send(new DescribeInstancesCommand({})))).name).toBe("AuthFailure");

    const spare = await api<{ accessKeyId: string; secretAccessKey: string }>(
      "POST",
      `/v1/accounts/${me.accountId}/access-keys`,
      me.apiKey,
    );
    const spareClient = client(spare);
    await spareClient.send(new DescribeInstancesCommand({ MaxResults: 5 }));
    await api("DELETE", `/v1/access-keys/${spare.accessKeyId}`, me.apiKey);
    expect((await failure(spareClient.send(new DescribeInstancesCommand({})))).name).toBe("AuthFailure");
  });

  it("makes a VPC, a subnet and a security group with an ingress rule, and launches into the subnet", async () => {
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.20.0.0/16" }));
    const vpcId = vpc.Vpc?.VpcId ?? "";
    expect(vpcId).toMatch(/^vpc-/);
    expect(vpc.Vpc?.CidrBlock).toBe("10.20.0.0/16");
    const subnet = await ec2.send(
      new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: "10.20.1.0/24", AvailabilityZone: zone }),
    );
    const subnetId = subnet.Subnet?.SubnetId ?? "";
    expect(subnet.Subnet?.AvailabilityZone).toBe(zone);
    const vpcs = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }));
    expect(vpcs.Vpcs?.map((v) => v.VpcId)).toEqual([vpcId]);
    const subnets = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }),
    );
    expect(subnets.Subnets?.map((x) => [x.SubnetId, x.CidrBlock])).toEqual([[subnetId, "10.20.1.0/24"]]);

    const group = await ec2.send(
      new CreateSecurityGroupCommand({ GroupName: "web", Description: "web servers", VpcId: vpcId }),
    );
    const groupId = group.GroupId ?? "";
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: groupId,
        IpPermissions: [
          { IpProtocol: "tcp", FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: "0.0.0.0/0" }] },
        ],
      }),
    );
    const groups = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
    expect(groups.SecurityGroups?.[0].IpPermissions).toEqual([
      expect.objectContaining({
        IpProtocol: "tcp",
        FromPort: 443,
        ToPort: 443,
        IpRanges: [{ CidrIp: "0.0.0.0/0" }],
      }),
    ]);

    const run = await ec2.send(
      new RunInstancesCommand({
        InstanceType: "m5.large",
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnetId,
        SecurityGroupIds: [groupId],
      }),
    );
    expect(run.Instances?.[0].Placement?.AvailabilityZone).toBe(zone);
    // Another account sees none of it.
    const other = client(await newAccount("other-net"));
    expect((await failure(other.send(new DescribeVpcsCommand({ VpcIds: [vpcId] })))).name).toMatch(
      /NotFound/,
    );
  });

  it("answers an unknown action InvalidAction and one without its service UnsupportedOperation", async () => {
    const signer = new SignatureV4({
      credentials: { accessKeyId: me.accessKeyId, secretAccessKey: me.secretAccessKey },
      region: "us-east-1",
      service: "ec2",
      sha256: WebSha256,
    });
    const url = new URL(base);
    const body = "Action=DescribeUnicorns&Version=2016-11-15";
    const signed = await signer.sign({
      method: "POST",
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: "/",
      query: {},
      headers: { host: url.host, "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      body,
    });
    const res = await fetch(base, {
      method: "POST",
      headers: signed.headers as Record<string, string>,
      body,
    });
    expect(res.status).toBe(400);
    const xml = await res.text();
    expect(xml).toMatch(/<Code>InvalidAction<\/Code>/);
    expect(xml).toMatch(/<RequestID>[0-9a-f-]{36}<\/RequestID>/);

    // Every action named is served now; what the fleet cannot do is a parameter: dedicated instance
    // tenancy (EC2's "dedicated", as against a Dedicated Host's "host").
    const pending = await failure(
      ec2.send(
        new RunInstancesCommand({
          InstanceType: "m5.large",
          MinCount: 1,
          MaxCount: 1,
          Placement: { AvailabilityZone: zone, Tenancy: "dedicated" },
        }),
      ),
    );
    expect(pending.name).toBe("UnsupportedOperation");
  });

  it("creates a volume, attaches it to a running instance, snapshots, detaches and deletes it", async () => {
    // A zone of its own, with a host and three storage nodes in three racks.
    const vz = freshZone();
    await addHost(vz);
    for (let r = 1; r <= 3; r++) {
      await api("POST", "/v1/storage-nodes", adminKey, { availabilityZone: vz, rack: `${vz}-ebs${r}` });
    }
    const run = await launch(1, { Placement: { AvailabilityZone: vz } });
    const instanceId = run.Instances?.[0].InstanceId as string;
    await advance(60);

    const dry = await failure(
      ec2.send(new CreateVolumeCommand({ AvailabilityZone: vz, Size: 8, DryRun: true })),
    );
    expect(dry.name).toBe("DryRunOperation");
    const v = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: vz, Size: 8, VolumeType: "gp3" }));
    const volumeId = v.VolumeId as string;
    expect(volumeId).toMatch(/^vol-[0-9a-f]{17}$/);
    expect(v).toMatchObject({ Size: 8, AvailabilityZone: vz, VolumeType: "gp3", Encrypted: true });
    expect(v.KmsKeyId).toBeTruthy();

    const a = await ec2.send(
      new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: "/dev/sdf" }),
    );
    expect(a).toMatchObject({
      VolumeId: volumeId,
      InstanceId: instanceId,
      Device: "/dev/sdf",
      State: "attached",
    });
    expect(a.AttachTime).toBeInstanceOf(Date);

    const inUse = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: "attachment.instance-id", Values: [instanceId] }] }),
    );
    expect(inUse.Volumes).toHaveLength(1);
    expect(inUse.Volumes?.[0]).toMatchObject({ VolumeId: volumeId, State: "in-use", Size: 8 });
    expect(inUse.Volumes?.[0].Attachments).toEqual([
      expect.objectContaining({ InstanceId: instanceId, Device: "/dev/sdf", State: "attached" }),
    ]);
    expect((await failure(ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId })))).name).toBe(
      "VolumeInUse",
    );

    const snap = await ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
    expect(snap.SnapshotId).toMatch(/^snap-[0-9a-f]{17}$/);
    expect(snap).toMatchObject({ VolumeId: volumeId, VolumeSize: 8 });
    expect(snap.StartTime).toBeInstanceOf(Date);

    // A second volume: the zone's filter finds both.
    await ec2.send(new CreateVolumeCommand({ AvailabilityZone: vz, Size: 4 }));
    const first = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: "availability-zone", Values: [vz] }], MaxResults: 5 }),
    );
    expect(first.Volumes?.length).toBe(2);

    const d = await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId }));
    expect(d).toMatchObject({ VolumeId: volumeId, InstanceId: instanceId, Device: "/dev/sdf" });
    const detached = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    expect(detached.Volumes?.[0].State).toBe("available");
    expect(detached.Volumes?.[0].Attachments ?? []).toEqual([]);
    expect((await failure(ec2.send(new DetachVolumeCommand({ VolumeId: volumeId })))).name).toBe(
      "IncorrectState",
    );

    await ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    const gone = await failure(ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })));
    expect(gone.name).toBe("InvalidVolume.NotFound");
  });
});

describe("placement groups and network ACLs through the AWS SDK", () => {
  it("creates spread and partition groups, launches into them with Placement, and deletes a group once empty", async () => {
    const pz = freshZone();
    for (let r = 1; r <= 3; r++) {
      await api("POST", "/v1/hosts", adminKey, { availabilityZone: pz, family: "m5", rack: `${pz}-r${r}` });
    }
    const made = await ec2.send(
      new CreatePlacementGroupCommand({ GroupName: "sdk-spread", Strategy: "spread" }),
    );
    expect(made.PlacementGroup).toMatchObject({
      GroupName: "sdk-spread",
      Strategy: "spread",
      State: "available",
      SpreadLevel: "rack",
    });
    await ec2.send(
      new CreatePlacementGroupCommand({ GroupName: "sdk-part", Strategy: "partition", PartitionCount: 2 }),
    );
    const tooMany = await failure(
      ec2.send(
        new CreatePlacementGroupCommand({ GroupName: "sdk-x", Strategy: "partition", PartitionCount: 9 }),
      ),
    );
    expect(tooMany.name).toBe("InvalidParameterValue");
    const listed = await ec2.send(
      new DescribePlacementGroupsCommand({ Filters: [{ Name: "strategy", Values: ["partition"] }] }),
    );
    expect(listed.PlacementGroups?.map((g) => [g.GroupName, g.PartitionCount])).toEqual([["sdk-part", 2]]);

    const spread = await ec2.send(
      new RunInstancesCommand({
        InstanceType: "m5.large",
        MinCount: 3,
        MaxCount: 3,
        Placement: { AvailabilityZone: pz, GroupName: "sdk-spread" },
      }),
    );
    expect(spread.Instances?.map((i) => i.Placement?.GroupName)).toEqual([
      "sdk-spread",
      "sdk-spread",
      "sdk-spread",
    ]);
    const hosts = new Set(spread.Instances?.map((i) => i.Placement?.HostId));
    expect(hosts.size).toBe(3);
    // Three racks, three members: a fourth has no rack of its own left.
    const full = await failure(
      ec2.send(
        new RunInstancesCommand({
          InstanceType: "m5.large",
          MinCount: 1,
          MaxCount: 1,
          Placement: { AvailabilityZone: pz, GroupName: "sdk-spread" },
        }),
      ),
    );
    expect(full.name).toBe("InsufficientInstanceCapacity");
    expect(full.message).toMatch(/sdk-spread/);

    const part = await ec2.send(
      new RunInstancesCommand({
        InstanceType: "m5.large",
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: pz, GroupName: "sdk-part", PartitionNumber: 2 },
      }),
    );
    expect(part.Instances?.[0].Placement).toMatchObject({ GroupName: "sdk-part", PartitionNumber: 2 });
    const described = await ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [part.Instances![0].InstanceId!] }),
    );
    expect(described.Reservations?.[0].Instances?.[0].Placement?.PartitionNumber).toBe(2);

    const inUse = await failure(ec2.send(new DeletePlacementGroupCommand({ GroupName: "sdk-part" })));
    expect(inUse.name).toBe("InvalidPlacementGroup.InUse");
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [part.Instances![0].InstanceId!] }));
    await advance(120);
    await ec2.send(new DeletePlacementGroupCommand({ GroupName: "sdk-part" }));
    const unknown = await failure(ec2.send(new DescribePlacementGroupsCommand({ GroupNames: ["sdk-part"] })));
    expect(unknown.name).toBe("InvalidPlacementGroup.Unknown");
    const launchUnknown = await failure(
      ec2.send(
        new RunInstancesCommand({
          InstanceType: "m5.large",
          MinCount: 1,
          MaxCount: 1,
          Placement: { AvailabilityZone: pz, GroupName: "sdk-part" },
        }),
      ),
    );
    expect(launchUnknown.name).toBe("InvalidPlacementGroup.Unknown");
  });

  it("creates a network ACL with numbered entries, associates it with a subnet and describes it", async () => {
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.30.0.0/16" }));
    const vpcId = vpc.Vpc!.VpcId!;
    const subnet = await ec2.send(
      new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: "10.30.1.0/24", AvailabilityZone: zone }),
    );
    const subnetId = subnet.Subnet!.SubnetId!;
    const acl = await ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }));
    const aclId = acl.NetworkAcl!.NetworkAclId!;
    expect(acl.NetworkAcl).toMatchObject({ VpcId: vpcId, IsDefault: false });
    // The same client token again answers the same ACL rather than a second one.
    const token = "acl-token-1";
    const once = await ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId, ClientToken: token }));
    const twice = await ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId, ClientToken: token }));
    expect(twice.NetworkAcl?.NetworkAclId).toBe(once.NetworkAcl?.NetworkAclId);
    expect(twice.ClientToken).toBe(token);
    await ec2.send(
      new CreateNetworkAclEntryCommand({
        NetworkAclId: aclId,
        RuleNumber: 100,
        Protocol: "6",
        RuleAction: "deny",
        Egress: false,
        CidrBlock: "0.0.0.0/0",
        PortRange: { From: 22, To: 22 },
      }),
    );
    const dup = await failure(
      ec2.send(
        new CreateNetworkAclEntryCommand({
          NetworkAclId: aclId,
          RuleNumber: 100,
          Protocol: "-1",
          RuleAction: "allow",
          Egress: false,
          CidrBlock: "0.0.0.0/0",
        }),
      ),
    );
    expect(dup.name).toBe("NetworkAclEntryAlreadyExists");
    // The subnet starts on its VPC's default ACL; its association moves to the new one.
    const before = await ec2.send(
      new DescribeNetworkAclsCommand({ Filters: [{ Name: "association.subnet-id", Values: [subnetId] }] }),
    );
    expect(before.NetworkAcls?.map((a) => a.IsDefault)).toEqual([true]);
    const assoc = before.NetworkAcls![0].Associations!.find((a) => a.SubnetId === subnetId)!;
    const replaced = await ec2.send(
      new ReplaceNetworkAclAssociationCommand({
        AssociationId: assoc.NetworkAclAssociationId,
        NetworkAclId: aclId,
      }),
    );
    expect(replaced.NewAssociationId).toMatch(/^aclassoc-/);
    const after = await ec2.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [aclId] }));
    const shown = after.NetworkAcls![0];
    expect(shown.Associations?.map((a) => a.SubnetId)).toEqual([subnetId]);
    expect(shown.Entries).toContainEqual(
      expect.objectContaining({
        RuleNumber: 100,
        Protocol: "6",
        RuleAction: "deny",
        Egress: false,
        PortRange: { From: 22, To: 22 },
      }),
    );
    expect(shown.Entries).toContainEqual(
      expect.objectContaining({ RuleNumber: 32767, RuleAction: "deny", Egress: true }),
    );
  });
});

describe("Dedicated Hosts and client tokens through the AWS SDK", () => {
  it("allocates a Dedicated Host, launches onto it by id and by auto-placement, keeps others off, and releases it", async () => {
    const hz = freshZone();
    await addHost(hz);
    await addHost(hz);
    const other = await newAccount("sdk-dh-other");
    const theirs = client(other);

    const token = `dh-${hz}`;
    const got = await ec2.send(
      new AllocateHostsCommand({
        AvailabilityZone: hz,
        InstanceType: "m5.large",
        Quantity: 1,
        AutoPlacement: "on",
        ClientToken: token,
      }),
    );
    expect(got.HostIds).toHaveLength(1);
    const dh = got.HostIds?.[0] as string;
    // The same token and parameters: the same host; other parameters: the mismatch.
    const again = await ec2.send(
      new AllocateHostsCommand({
        AvailabilityZone: hz,
        InstanceType: "m5.large",
        Quantity: 1,
        AutoPlacement: "on",
        ClientToken: token,
      }),
    );
    expect(again.HostIds).toEqual([dh]);
    const mismatch = await failure(
      ec2.send(
        new AllocateHostsCommand({
          AvailabilityZone: hz,
          InstanceType: "m5.large",
          Quantity: 1,
          ClientToken: token,
        }),
      ),
    );
    expect(mismatch.name).toBe("IdempotentParameterMismatch");

    const described = await ec2.send(new DescribeHostsCommand({ HostIds: [dh] }));
    expect(described.Hosts?.[0]).toMatchObject({
      HostId: dh,
      AutoPlacement: "on",
      AvailabilityZone: hz,
      HostProperties: expect.objectContaining({ InstanceFamily: "m5" }),
    });
    expect(described.Hosts?.[0].OwnerId).toBe(me.accountId);
    // Another account neither sees it nor may launch onto it.
    const unseen = await failure(theirs.send(new DescribeHostsCommand({ HostIds: [dh] })));
    expect(unseen.name).toBe("InvalidHostID.NotFound");
    const refused = await failure(
      theirs.send(
        new RunInstancesCommand({
          InstanceType: "m5.large",
          MinCount: 1,
          MaxCount: 1,
          Placement: { HostId: dh },
        }),
      ),
    );
    expect(refused.name).toBe("InvalidHostID.NotFound");
    const shared = await theirs.send(
      new RunInstancesCommand({
        InstanceType: "m5.large",
        MinCount: 4,
        MaxCount: 4,
        Placement: { AvailabilityZone: hz },
      }),
    );
    const sharedIds = (shared.Instances ?? []).map((i) => i.InstanceId as string);
    await advance(60);
    const theirsOn = await theirs.send(new DescribeInstancesCommand({ InstanceIds: sharedIds }));
    const hostsOf = (r: typeof theirsOn) =>
      (r.Reservations ?? []).flatMap((x) => x.Instances ?? []).map((i) => i.Placement?.HostId);
    expect(hostsOf(theirsOn).every((h) => h !== undefined && h !== dh)).toBe(true);

    const byId = await ec2.send(
      new RunInstancesCommand({
        InstanceType: "m5.large",
        MinCount: 1,
        MaxCount: 1,
        Placement: { HostId: dh },
      }),
    );
    const byTenancy = await ec2.send(
      new RunInstancesCommand({
        InstanceType: "m5.large",
        MinCount: 1,
        MaxCount: 1,
        Placement: { Tenancy: "host", AvailabilityZone: hz },
      }),
    );
    const mineIds = [...(byId.Instances ?? []), ...(byTenancy.Instances ?? [])].map(
      (i) => i.InstanceId as string,
    );
    await advance(60);
    const mineOn = await ec2.send(new DescribeInstancesCommand({ InstanceIds: mineIds }));
    expect(hostsOf(mineOn)).toEqual([dh, dh]);
    const withInstances = await ec2.send(new DescribeHostsCommand({ HostIds: [dh] }));
    expect(withInstances.Hosts?.[0].Instances?.map((i) => i.InstanceId).sort()).toEqual([...mineIds].sort());

    const busy = await ec2.send(new ReleaseHostsCommand({ HostIds: [dh] }));
    expect(busy.Successful ?? []).toEqual([]);
    expect(busy.Unsuccessful?.[0]).toMatchObject({ ResourceId: dh, Error: { Code: "IncorrectState" } });
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: mineIds }));
    await advance(60);
    const released = await ec2.send(new ReleaseHostsCommand({ HostIds: [dh] }));
    expect(released.Successful).toEqual([dh]);
  });

  it("creates one volume for a client token used twice, and refuses it with other parameters", async () => {
    const vz = freshZone();
    await addHost(vz);
    for (let r = 1; r <= 3; r++) {
      await api("POST", "/v1/storage-nodes", adminKey, { availabilityZone: vz, rack: `${vz}-tok${r}` });
    }
    const token = `vol-${vz}`;
    const first = await ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: vz, Size: 8, VolumeType: "gp3", ClientToken: token }),
    );
    const second = await ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: vz, Size: 8, VolumeType: "gp3", ClientToken: token }),
    );
    expect(second.VolumeId).toBe(first.VolumeId);
    const mismatch = await failure(
      ec2.send(
        new CreateVolumeCommand({ AvailabilityZone: vz, Size: 16, VolumeType: "gp3", ClientToken: token }),
      ),
    );
    expect(mismatch.name).toBe("IdempotentParameterMismatch");
    const listed = await ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: "availability-zone", Values: [vz] }] }),
    );
    expect(listed.Volumes?.map((v) => v.VolumeId)).toEqual([first.VolumeId]);
  });
});
