/** The baseline's one activity: does nothing (see workflows.ts). */
export async function noop(_what: string): Promise<void> {}
