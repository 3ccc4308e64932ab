// The network's events, in a log of their own beside the fleet's (whose entries are the hosts'
// records of instances): an interface attached at launch (its address taken) and released when
// its instance terminated (its address free again).
export const NETWORK_EVENT_TYPES = ["network-interface.attached", "network-interface.released"] as const;
export type NetworkEventType = (typeof NETWORK_EVENT_TYPES)[number];
