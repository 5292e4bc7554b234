import { getUser } from "./users";

// Usernames by user id, fetched once per id while the page lives (lists show many rows by few
// people). An id the caller may not read shows as "unknown user".
const names = new Map<string, Promise<string>>();

export function userName(id: string): Promise<string> {
  let name = names.get(id);
  if (!name) {
    name = getUser(id).then(
      (u) => u.username,
      () => "unknown user",
    );
    names.set(id, name);
  }
  return name;
}
