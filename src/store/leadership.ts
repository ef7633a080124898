/**
 * Who talks to FeatBit upstream. With a shared store only one agent of the cluster does (the
 * leader); the others follow through the store. Stand-alone stores are always the leader.
 */
export interface Leadership {
  readonly isLeader: boolean;
  /** Called with true when this process becomes leader, false when it steps down. */
  onChange(listener: (leader: boolean) => void): () => void;
}

export const SOLE_LEADER: Leadership = {
  isLeader: true,
  onChange: () => () => undefined,
};
