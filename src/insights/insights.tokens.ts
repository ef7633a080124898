/** Where INSIGHTS_MODE=local keeps insights. */
export const LOCAL_INSIGHTS = Symbol('LOCAL_INSIGHTS');
