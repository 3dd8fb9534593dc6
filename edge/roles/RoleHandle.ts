/** A running role: what it tells the world (URLs, addresses) and how to stop it. */
export type RoleHandle<Info> = { readonly info: Info; close(): Promise<void> };
