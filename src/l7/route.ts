// Route templates: the parts of a path that name one item among many (numeric
// ids, UUIDs, hashes) become {id}, so per-route metrics stay bounded.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^[0-9a-f]{16,}$/i;
const NUMERIC = /^\d+$/;
/** Long tokens mixing digits and letters (base64url ids, ULIDs). */
const TOKEN = /^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{20,}$/;

/** "/users/42/orders/9f1c...?x=1" → "/users/{id}/orders/{id}". Pure. */
export function routeTemplate(path: string): string {
  const q = path.search(/[?#]/);
  const p = q < 0 ? path : path.slice(0, q);
  // Without a digit no part is an id, unless a long one is all hex letters (a UUID's or a hash's without digits).
  if (!/[0-9]|[a-f-]{16}/i.test(p)) return p;
  return p.split('/').map((s) => (NUMERIC.test(s) || UUID.test(s) || HEX.test(s) || TOKEN.test(s) ? '{id}' : s)).join('/');
}
