import type { DescEnum, DescExtension, DescFile, DescMessage, DescService } from "@bufbuild/protobuf";

/**
 * DescriptorIndex answers the lookups of gRPC server reflection over a fixed
 * set of Protobuf files: by file name, by fully-qualified symbol, by
 * extension, and the list of served services.
 */
export interface DescriptorIndex {
  /** services lists the fully-qualified names of the served services, sorted. */
  readonly services: readonly string[];
  /** fileByName finds a file by its path, e.g. `google/protobuf/timestamp.proto`. */
  fileByName(name: string): DescFile | undefined;
  /**
   * fileContainingSymbol finds the file declaring a message, enum, enum
   * value, field, oneof, service, method or extension by its fully-qualified
   * name (`tokenkit.v1.TokenService.IssueToken`); a leading dot is ignored.
   */
  fileContainingSymbol(symbol: string): DescFile | undefined;
  /** fileContainingExtension finds the file declaring extension `number` of `extendee`. */
  fileContainingExtension(extendee: string, number: number): DescFile | undefined;
  /** extensionNumbers lists the known extension numbers of a message, or `undefined` for an unknown message. */
  extensionNumbers(extendee: string): number[] | undefined;
  /**
   * withDependencies returns `file` followed by its transitive imports
   * (breadth-first, each once), skipping imports named in `skip`.
   */
  withDependencies(file: DescFile, skip?: ReadonlySet<string>): DescFile[];
}

/**
 * fileName returns the path of a file as used by protoc and reflection:
 * `tokenkit/v1/token_service.proto`.
 */
export function fileName(file: DescFile): string {
  return file.proto.name !== "" ? file.proto.name : `${file.name}.proto`;
}

/**
 * createDescriptorIndex indexes `items` — services (their files are served)
 * and whole files (every service they declare is listed) — together with all
 * their transitive imports, so that a client can resolve every type a served
 * method uses, such as `google.protobuf.Timestamp`.
 */
export function createDescriptorIndex(items: readonly (DescService | DescFile)[]): DescriptorIndex {
  if (!Array.isArray(items)) {
    throw new TypeError("createDescriptorIndex: items must be a list of services or files");
  }
  const services = new Set<string>();
  const roots: DescFile[] = [];
  for (const item of items) {
    if (item?.kind === "service") {
      services.add(item.typeName);
      roots.push(item.file);
    } else if (item?.kind === "file") {
      for (const s of item.services) {
        services.add(s.typeName);
      }
      roots.push(item);
    } else {
      throw new TypeError("createDescriptorIndex: every item must be a DescService or a DescFile");
    }
  }

  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const extensions = new Map<string, Map<number, DescFile>>();
  const messages = new Set<string>();

  function addExtension(ext: DescExtension, file: DescFile): void {
    symbols.set(ext.typeName, file);
    let byNumber = extensions.get(ext.extendee.typeName);
    if (byNumber === undefined) {
      byNumber = new Map();
      extensions.set(ext.extendee.typeName, byNumber);
    }
    byNumber.set(ext.number, file);
  }

  function addEnum(e: DescEnum, file: DescFile): void {
    symbols.set(e.typeName, file);
    // Enum values are scoped as siblings of their enum (C++ scoping rules).
    const scope = e.typeName.includes(".") ? e.typeName.slice(0, e.typeName.lastIndexOf(".") + 1) : "";
    for (const v of e.values) {
      symbols.set(scope + v.name, file);
    }
  }

  function addMessage(m: DescMessage, file: DescFile): void {
    symbols.set(m.typeName, file);
    messages.add(m.typeName);
    for (const f of m.fields) {
      symbols.set(`${m.typeName}.${f.name}`, file);
    }
    for (const o of m.oneofs) {
      symbols.set(`${m.typeName}.${o.name}`, file);
    }
    // Map entries are nested types in the descriptor, but not DescMessages.
    for (const nested of m.proto.nestedType) {
      symbols.set(`${m.typeName}.${nested.name}`, file);
    }
    m.nestedMessages.forEach((n) => addMessage(n, file));
    m.nestedEnums.forEach((n) => addEnum(n, file));
    m.nestedExtensions.forEach((n) => addExtension(n, file));
  }

  function addFile(file: DescFile): void {
    const name = fileName(file);
    if (files.has(name)) {
      return;
    }
    files.set(name, file);
    file.messages.forEach((m) => addMessage(m, file));
    file.enums.forEach((e) => addEnum(e, file));
    file.extensions.forEach((x) => addExtension(x, file));
    for (const s of file.services) {
      symbols.set(s.typeName, file);
      for (const m of s.methods) {
        symbols.set(`${s.typeName}.${m.name}`, file);
      }
    }
    file.dependencies.forEach(addFile);
  }
  roots.forEach(addFile);

  const strip = (name: string) => (name.startsWith(".") ? name.slice(1) : name);
  const serviceList = [...services].sort();

  return {
    services: serviceList,
    fileByName: (name) => files.get(name),
    fileContainingSymbol: (symbol) => symbols.get(strip(symbol)),
    fileContainingExtension: (extendee, number) => extensions.get(strip(extendee))?.get(number),
    extensionNumbers(extendee) {
      const name = strip(extendee);
      if (!messages.has(name)) {
        return undefined;
      }
      return [...(extensions.get(name)?.keys() ?? [])].sort((a, b) => a - b);
    },
    withDependencies(file, skip) {
      const out: DescFile[] = [];
      const seen = new Set<string>();
      const queue = [file];
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
        const name = fileName(f);
        if (seen.has(name)) {
          continue;
        }
        seen.add(name);
        if (f === file || skip?.has(name) !== true) {
          out.push(f);
        }
        queue.push(...f.dependencies);
      }
      return out;
    },
  };
}
