// Who may call each operation, by its method and OpenAPI path: the one table the auth
// middleware enforces and the OpenAPI document states. An operation missing here is
// admin-only, so a new route is closed until someone decides who may call it.
//
// The admin key operates the fleet: hosts, their states, the clock, reconcile, accounts.
// It also reads every tenant's resources (an operator's view of the whole fleet), but it
// changes none of them: launches and actions on an instance belong to the instance's
// account, so nothing a tenant owns ever changes by another's hand.
export type Access = "admin" | "tenant" | "any";

export const ACCESS: Record<string, Access> = {
  "GET /v1/instance-types": "any",
  "GET /v1/recommendations": "any",
  "GET /v1/clock": "any",
  "PUT /v1/admin/clock": "admin",
  "POST /v1/admin/clock/advance": "admin",
  "POST /v1/admin/reconcile": "admin",

  "POST /v1/hosts": "admin",
  "POST /v1/hosts/bulk": "admin",
  "PUT /v1/hosts/{id}/state": "admin",
  // A tenant sees the hosts of its own instances, and on them only its own VMs.
  "GET /v1/hosts": "any",
  "GET /v1/hosts/{id}": "any",
  "GET /v1/hosts/{id}/memory": "any",

  "POST /v1/instances": "tenant",
  "GET /v1/instances": "any",
  "GET /v1/instances/{id}": "any",
  "DELETE /v1/instances/{id}": "tenant",
  "POST /v1/instances/{id}/stop": "tenant",
  "POST /v1/instances/{id}/start": "tenant",
  "POST /v1/instances/{id}/reboot": "tenant",
  "PUT /v1/instances/{id}/workload": "tenant",
  "GET /v1/instances/{id}/cpu": "any",
  "GET /v1/instances/{id}/memory": "any",
  // A translation faults pages into the guest: a change to the instance, so its owner's.
  "POST /v1/instances/{id}/memory/translate": "tenant",

  "GET /v1/events": "any",
  "GET /v1/events/stream": "any",
  "GET /v1/events/{id}": "any",

  // Webhooks carry a tenant's own events; the admin reads them all and makes none.
  "POST /v1/subscriptions": "tenant",
  "GET /v1/subscriptions": "any",
  "GET /v1/subscriptions/{id}": "any",
  "PATCH /v1/subscriptions/{id}": "tenant",
  "DELETE /v1/subscriptions/{id}": "tenant",
  "POST /v1/subscriptions/{id}/rotate-secret": "tenant",
  "GET /v1/subscriptions/{id}/deliveries": "any",
  "POST /v1/subscriptions/{id}/deliveries/{deliveryId}/redeliver": "tenant",

  // A tenant reads its instances' metrics; the admin every metric, hosts' own included.
  "GET /v1/metrics": "any",
  "GET /v1/metrics/statistics": "any",
  "POST /v1/alarms": "tenant",
  "GET /v1/alarms": "any",
  "GET /v1/alarms/{id}": "any",
  "DELETE /v1/alarms/{id}": "tenant",

  // A tenant migrates its own instances; the operator any (host maintenance is the operator's).
  "POST /v1/instances/{id}/migrate": "any",
  "GET /v1/migrations": "any",
  "GET /v1/migrations/{id}": "any",
  "POST /v1/migrations/{id}/cancel": "any",
  "POST /v1/hosts/{id}/evacuate": "admin",
  "GET /v1/evacuations/{id}": "admin",
  "POST /v1/instances/{id}/scheduled-events": "admin",
  "GET /v1/instances/{id}/status": "any",
  // The network: an account's own VPCs, subnets, groups, peerings and interfaces.
  "POST /v1/vpcs": "tenant",
  "GET /v1/vpcs": "any",
  "GET /v1/vpcs/{id}": "any",
  "POST /v1/subnets": "tenant",
  "GET /v1/subnets": "any",
  "GET /v1/subnets/{id}": "any",
  "POST /v1/security-groups": "tenant",
  "GET /v1/security-groups": "any",
  "GET /v1/security-groups/{id}": "any",
  "POST /v1/security-groups/{id}/rules": "tenant",
  "DELETE /v1/security-groups/{id}/rules/{ruleId}": "tenant",
  "POST /v1/vpc-peering-connections": "tenant",
  "GET /v1/vpc-peering-connections": "any",
  "DELETE /v1/vpc-peering-connections/{id}": "tenant",
  "GET /v1/network-interfaces": "any",
  "GET /v1/network-interfaces/{id}": "any",
  "GET /v1/network-events": "any",
  // A send changes the flow state of the hosts' switches: the instance owner's.
  "POST /v1/instances/{id}/network/send": "tenant",
  "POST /v1/network-acls": "tenant",
  "GET /v1/network-acls": "any",
  "GET /v1/network-acls/{id}": "any",
  "DELETE /v1/network-acls/{id}": "tenant",
  "POST /v1/network-acls/{id}/entries": "tenant",
  "DELETE /v1/network-acls/{id}/entries/{direction}/{ruleNumber}": "tenant",
  "PUT /v1/subnets/{id}/network-acl": "tenant",
  // Placement groups: an account's own; the admin reads them all.
  "POST /v1/placement-groups": "tenant",
  "GET /v1/placement-groups": "any",
  "GET /v1/placement-groups/{name}": "any",
  "DELETE /v1/placement-groups/{name}": "tenant",
  // The security model: a tenant audits and verifies the hosts of its own instances; the host's
  // view of a frame (ciphertext), the allow-list and tampering are the operator's.
  "GET /v1/hosts/{id}/isolation": "any",
  "GET /v1/hosts/{id}/boot": "any",
  "GET /v1/hosts/{id}/attestation-key": "any",
  "GET /v1/hosts/{id}/frame": "admin",
  "POST /v1/admin/hosts/{id}/attest": "admin",
  "POST /v1/admin/hosts/{id}/tamper": "admin",
  "GET /v1/admin/boot-allow-list": "admin",
  "PUT /v1/admin/boot-allow-list": "admin",
  // Attestation and the guest's own data are its owner's alone: the admin key gets no plaintext.
  "POST /v1/instances/{id}/attestation": "tenant",
  "POST /v1/instances/{id}/memory/write": "tenant",
  "POST /v1/instances/{id}/memory/read": "tenant",

  "POST /v1/accounts": "admin",
  "GET /v1/accounts/me": "any",
  // A tenant manages the keys of its own account; the admin those of any account.
  "GET /v1/accounts/{id}/keys": "any",
  "POST /v1/accounts/{id}/keys": "any",
  "DELETE /v1/keys/{keyId}": "any",

  // Block storage. The admin operates storage nodes and sees every volume's record, never its data:
  // block reads and writes (and the instance store's) are the owning account's alone.
  "POST /v1/storage-nodes": "admin",
  "GET /v1/storage-nodes": "admin",
  "GET /v1/storage-nodes/{id}": "admin",
  "PUT /v1/storage-nodes/{id}/state": "admin",
  "POST /v1/volumes": "tenant",
  "GET /v1/volumes": "any",
  "GET /v1/volumes/{id}": "any",
  "DELETE /v1/volumes/{id}": "tenant",
  "POST /v1/volumes/{id}/attach": "tenant",
  "POST /v1/volumes/{id}/detach": "tenant",
  "PUT /v1/volumes/{id}/blocks/{n}": "tenant",
  "GET /v1/volumes/{id}/blocks/{n}": "tenant",
  "POST /v1/volumes/{id}/snapshots": "tenant",
  "GET /v1/snapshots": "any",
  "GET /v1/snapshots/{id}": "any",
  "PUT /v1/instances/{id}/instance-store/blocks/{n}": "tenant",
  "GET /v1/instances/{id}/instance-store/blocks/{n}": "tenant",
  // Shared file systems: records to the admin too; files only to the owning account.
  "POST /v1/filesystems": "tenant",
  "GET /v1/filesystems": "any",
  "GET /v1/filesystems/{id}": "any",
  "POST /v1/filesystems/{id}/mount-targets": "tenant",
  "POST /v1/filesystems/{id}/open": "tenant",
  "GET /v1/filesystems/{id}/handles/{handleId}": "tenant",
  "PUT /v1/filesystems/{id}/handles/{handleId}": "tenant",
  "POST /v1/filesystems/{id}/handles/{handleId}/close": "tenant",
  "GET /v1/filesystems/{id}/files": "tenant",
  "DELETE /v1/filesystems/{id}/files": "tenant",
  // Access keys for the EC2 Query API, likewise: a tenant's own, the admin's for any account.
  "GET /v1/accounts/{id}/access-keys": "any",
  "POST /v1/accounts/{id}/access-keys": "any",
  "DELETE /v1/access-keys/{accessKeyId}": "any",
};

export function accessOf(method: string, path: string): Access {
  return ACCESS[`${method.toUpperCase()} ${path}`] ?? "admin";
}

export const ACCESS_NOTES: Record<Access, string> = {
  admin: "Takes the admin key.",
  tenant: "Takes an account's key; acts only on that account's resources.",
  any: "Takes the admin key or an account's key; an account's key sees only that account's resources.",
};

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"] as const;

interface Operation {
  description?: string;
  security?: Record<string, string[]>[];
  responses?: Record<string, unknown>;
  [key: string]: unknown;
}

const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
});

/**
 * States the access table in an OpenAPI document: the bearer scheme, and on every
 * operation who may call it (`x-access` and its description) and the refusals that follow
 * from that: 401 without a valid key, 403 for a key of the wrong kind, 429 over the rate.
 */
export function withAccess<D extends { paths?: object; components?: object }>(doc: D): D {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, item] of Object.entries((doc.paths ?? {}) as Record<string, Record<string, unknown>>)) {
    const next: Record<string, unknown> = { ...item };
    for (const method of METHODS) {
      const op = item[method] as Operation | undefined;
      if (!op) continue;
      const access = accessOf(method, path);
      next[method] = {
        ...op,
        description: [op.description, ACCESS_NOTES[access]].filter(Boolean).join("\n\n"),
        "x-access": access,
        security: [{ apiKey: [] }],
        responses: {
          ...op.responses,
          401: problem("No key, or a key that is unknown, revoked or malformed (AuthFailure)"),
          ...(access === "any" ? {} : { 403: problem("A key of the wrong kind (UnauthorizedOperation)") }),
          429: problem("Over an account key's request rate (RequestLimitExceeded), with Retry-After"),
        },
      };
    }
    paths[path] = next;
  }
  const components = doc.components as { securitySchemes?: object } | undefined;
  return {
    ...doc,
    paths,
    components: {
      ...components,
      securitySchemes: {
        ...components?.securitySchemes,
        apiKey: {
          type: "http",
          scheme: "bearer",
          description: "An hfk_ key of an account, or the admin key",
        },
      },
    },
  };
}
