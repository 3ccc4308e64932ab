// The network's events, in the fleet's one event log: an interface attached at launch (its
// address taken) and released when its instance terminated (its address free again).
export const NETWORK_EVENT_TYPES = ["network-interface.attached", "network-interface.released"] as const;
export type NetworkEventType = (typeof NETWORK_EVENT_TYPES)[number];

/** An interface's state in those events: in use while attached; deleted with its instance. */
export const INTERFACE_EVENT_STATES = ["in-use", "deleted"] as const;
