// The server calls behind the create form, kept free of React so they can be tested with a fake fetch.

import { chatCreatePermissions } from "../api/authcheck";
import { listOrganizations } from "../api/organizations";
import type { Permissions } from "./orgPicker";

/** The caller's organizations and, per org, whether they may create chats there (one authcheck). */
export async function loadChatCreatePermissions(): Promise<Permissions> {
  const organizations = await listOrganizations();
  const allowed = await chatCreatePermissions(organizations);
  return { organizations, allowed };
}
