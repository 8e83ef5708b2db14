import { createHash, randomBytes } from "node:crypto";

/** A fresh credential for one agent's MCP server. */
export const newToken = (): string => randomBytes(24).toString("base64url");

/** Only this digest is stored: the store alone cannot be used to act as an agent. */
export const hashToken = (token: string): string => createHash("sha256").update(token).digest("hex");
