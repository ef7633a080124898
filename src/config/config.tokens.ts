/** The parsed AgentConfig, provided globally by AgentConfigModule. */
export const AGENT_CONFIG = Symbol('AGENT_CONFIG');
