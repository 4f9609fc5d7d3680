import { describe, expect, it } from "vitest";
import { deleteRefusal } from "./providerRow";
import type { Provider } from "./types";

const provider = (source: string): Provider => ({ id: "p", source }) as unknown as Provider;

describe("deleteRefusal", () => {
  it("keeps a provider of the configuration file", () => {
    expect(deleteRefusal(provider("file"), false)).toMatch(/configuration file/);
  });
  it("keeps the provider the admin is signed in with", () => {
    expect(deleteRefusal(provider("api"), true)).toMatch(/signed in with it/);
  });
  it("lets any other provider be deleted", () => {
    expect(deleteRefusal(provider("api"), false)).toBeNull();
  });
});
