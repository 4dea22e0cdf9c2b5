/**
 * How much a route matters when the process is overloaded. Lower sheds last:
 * `critical` routes (health, payments) keep working while `sheddable` ones are refused first.
 */
export const Priority = { critical: 0, normal: 1, sheddable: 2 } as const;
export type Priority = (typeof Priority)[keyof typeof Priority];
/** The names routes use in their options. */
export type PriorityName = keyof typeof Priority;
