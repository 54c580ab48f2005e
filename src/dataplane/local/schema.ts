/**
 * A service's schema for JSON transcoding, built from the file descriptors its backend reflects: the
 * message types (a @bufbuild/protobuf registry, which implements the proto3 JSON mapping) and the
 * `google.api.http` bindings of its methods. Built once per set of reflected files (they are cached for the
 * reflection TTL).
 */
import {
  create,
  createFileRegistry,
  type DescMethod,
  type DescService,
  type FileRegistry,
  fromBinary,
} from "@bufbuild/protobuf";
import { protoCamelCase } from "@bufbuild/protobuf/reflect";
import {
  type DescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import type { DecodedFile } from "./descriptors.js";
import { bindingsOf, type HttpBinding } from "./http-rules.js";

export interface ServiceSchema {
  service: DescService;
  registry: FileRegistry;
  /** The service's HTTP bindings, in method order. */
  bindings: { binding: HttpBinding; method: DescMethod }[];
}

const built = new WeakMap<DecodedFile, Map<string, ServiceSchema | string>>();

/** The schema of `service` from the files defining it (the defining file first); a string says why not. */
export function serviceSchema(files: readonly DecodedFile[], service: string): ServiceSchema | string {
  const first = files[0];
  if (first === undefined) return `no file defines ${service}`;
  let forFile = built.get(first);
  if (forFile === undefined) {
    forFile = new Map();
    built.set(first, forFile);
  }
  const known = forFile.get(service);
  if (known !== undefined) return known;
  const s = build(files, service);
  forFile.set(service, s);
  return s;
}

/**
 * Some reflection servers (grpc-js's) send files without their `dependency` lists, though they send the
 * files themselves, and with type names relative to their scope: names are made fully qualified (protobuf
 * scoping: innermost scope first), extensions copied among the extended message's fields are dropped,
 * and a file that lists no dependency gets the files that define the types
 * it refers to, so the registry can order them.
 */
function withDependencies(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const definedIn = new Map<string, string>();
  const define = (prefix: string, file: string, msgs: DescriptorProto[], enums: { name: string }[]): void => {
    for (const e of enums) definedIn.set(`${prefix}.${e.name}`, file);
    for (const m of msgs) {
      definedIn.set(`${prefix}.${m.name}`, file);
      define(`${prefix}.${m.name}`, file, m.nestedType, m.enumType);
    }
  };
  for (const f of files) define(f.package === "" ? "" : `.${f.package}`, f.name, f.messageType, f.enumType);
  const resolve = (ref: string, scope: string): string => {
    if (ref === "" || ref.startsWith(".")) return ref;
    const parts = scope === "" ? [] : scope.split(".");
    for (let i = parts.length; i >= 0; i--) {
      const name = `.${[...parts.slice(0, i), ref].join(".")}`;
      if (definedIn.has(name)) return name;
    }
    return ref;
  };
  for (const f of files) {
    const refs = new Set<string>();
    const fields = (fs: FieldDescriptorProto[], scope: string): void => {
      for (const x of fs) {
        // protoc always writes json_name; protobufjs-made descriptors do not.
        if (x.jsonName === "") x.jsonName = protoCamelCase(x.name);
        x.typeName = resolve(x.typeName, scope);
        x.extendee = resolve(x.extendee, scope);
        if (x.typeName !== "") refs.add(x.typeName);
        if (x.extendee !== "") refs.add(x.extendee);
      }
    };
    const walk = (msgs: DescriptorProto[], scope: string): void => {
      for (const m of msgs) {
        const inner = scope === "" ? m.name : `${scope}.${m.name}`;
        // protobufjs-made descriptors also list extensions among the extended message's fields.
        m.field = m.field.filter((x) => !x.name.startsWith("."));
        fields(m.field, inner);
        fields(m.extension, inner);
        walk(m.nestedType, inner);
      }
    };
    walk(f.messageType, f.package);
    fields(f.extension, f.package);
    for (const s of f.service) {
      for (const m of s.method) {
        m.inputType = resolve(m.inputType, f.package);
        m.outputType = resolve(m.outputType, f.package);
        refs.add(m.inputType).add(m.outputType);
      }
    }
    if (f.dependency.length > 0) continue;
    const deps = new Set<string>();
    for (const r of refs) {
      const file = definedIn.get(r);
      if (file !== undefined && file !== f.name) deps.add(file);
    }
    f.dependency = [...deps];
  }
  // Dependencies first (the registry takes files in order).
  const byName = new Map(files.map((f) => [f.name, f]));
  const out: FileDescriptorProto[] = [];
  const seen = new Set<string>();
  const visit = (f: FileDescriptorProto): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    for (const d of f.dependency) {
      const dep = byName.get(d);
      if (dep !== undefined) visit(dep);
    }
    out.push(f);
  };
  for (const f of files) visit(f);
  return out;
}

function build(files: readonly DecodedFile[], service: string): ServiceSchema | string {
  let registry: FileRegistry;
  try {
    const set = create(FileDescriptorSetSchema, {
      file: withDependencies(files.map((f) => fromBinary(FileDescriptorProtoSchema, f.bytes))),
    });
    registry = createFileRegistry(set);
  } catch (e: unknown) {
    return `the backend's descriptors for ${service} cannot be used: ${(e as Error).message}`;
  }
  const desc = registry.getService(service);
  if (desc === undefined) return `the backend's descriptors do not define service ${service}`;
  const decoded = files.flatMap((f) => f.services).find((s) => s.fullName === service);
  const bindings: ServiceSchema["bindings"] = [];
  for (const m of decoded?.methods ?? []) {
    if (m.http === undefined) continue;
    const method = desc.methods.find((x) => x.name === m.name);
    if (method === undefined) continue;
    for (const binding of bindingsOf(m.http)) bindings.push({ binding, method });
  }
  return { service: desc, registry, bindings };
}
