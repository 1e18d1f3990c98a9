export * from "./limits.ts";
export * from "./time.ts";
export * from "./oci.ts";
export * from "./escape.ts";
export * from "./names.ts";
export * from "./record.ts";
export * from "./logline.ts";
export * from "./http.ts";
