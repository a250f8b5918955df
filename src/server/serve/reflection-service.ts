import { create, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ServerReflectionResponseSchema as ResponseV1Schema,
  type ServerReflection as ServerReflectionV1,
  type ServerReflectionRequest as RequestV1,
} from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflectionResponseSchema as ResponseV1alphaSchema,
  type ServerReflection as ServerReflectionV1alpha,
  type ServerReflectionRequest as RequestV1alpha,
} from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createDescriptorIndex, fileName, type DescriptorIndex } from "./descriptor-index.js";

/** gRPC status codes used in reflection `error_response`. */
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_NOT_FOUND = 5;

/** ReflectionServiceOptions configures {@link createReflectionServiceV1} and {@link createReflectionServiceV1alpha}. */
export interface ReflectionServiceOptions {
  /**
   * services are what the server serves: services, or whole files whose
   * services are all served. Their files and transitive imports are
   * described; `list_services` lists the services. Include the reflection
   * and health services themselves to have them listed, as grpc-go does.
   * Required.
   */
  services: readonly (DescService | DescFile)[];
}

type MessageResponse =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

type ReflectionRequest = RequestV1 | RequestV1alpha;

function notFound(what: string): MessageResponse {
  return { case: "errorResponse", value: { errorCode: GRPC_NOT_FOUND, errorMessage: `${what} not found` } };
}

/**
 * answer computes one reflection response. `sent` holds the files already
 * sent on this stream: like grpc-go, the requested file is always sent, its
 * imports only once per stream.
 */
function answer(index: DescriptorIndex, encoded: Map<string, Uint8Array>, req: ReflectionRequest, sent: Set<string>): MessageResponse {
  const describe = (file: DescFile | undefined, what: string): MessageResponse => {
    if (file === undefined) {
      return notFound(what);
    }
    const out = index.withDependencies(file, sent).map((f) => {
      const name = fileName(f);
      sent.add(name);
      let bytes = encoded.get(name);
      if (bytes === undefined) {
        bytes = toBinary(FileDescriptorProtoSchema, f.proto);
        encoded.set(name, bytes);
      }
      return bytes;
    });
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
  };
  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
    case "fileByFilename":
      return describe(index.fileByName(r.value), `file "${r.value}"`);
    case "fileContainingSymbol":
      return describe(index.fileContainingSymbol(r.value), `symbol "${r.value}"`);
    case "fileContainingExtension":
      return describe(
        index.fileContainingExtension(r.value.containingType, r.value.extensionNumber),
        `extension ${r.value.extensionNumber} of "${r.value.containingType}"`,
      );
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbers(r.value);
      return numbers === undefined
        ? notFound(`type "${r.value}"`)
        : { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } };
    }
    default:
      return { case: "errorResponse", value: { errorCode: GRPC_INVALID_ARGUMENT, errorMessage: "empty reflection request" } };
  }
}

function validate(options: ReflectionServiceOptions, fn: string): DescriptorIndex {
  if (!Array.isArray(options?.services)) {
    throw new TypeError(`${fn}: option "services" must be a list of DescService or DescFile`);
  }
  try {
    return createDescriptorIndex(options.services);
  } catch (err) {
    throw new TypeError(`${fn}: option "services": ${(err as Error).message}`);
  }
}

/**
 * createReflectionServiceV1 implements `grpc.reflection.v1.ServerReflection`
 * (bidi `ServerReflectionInfo`): `list_services`, `file_by_filename`,
 * `file_containing_symbol`, `file_containing_extension` and
 * `all_extension_numbers_of_type`, answering `error_response` NOT_FOUND for
 * unknown names. This is what `buf curl` and `grpcurl` use when no schema is
 * given.
 */
export function createReflectionServiceV1(options: ReflectionServiceOptions): ServiceImpl<typeof ServerReflectionV1> {
  const index = validate(options, "createReflectionServiceV1");
  const encoded = new Map<string, Uint8Array>();
  return {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>();
      for await (const req of requests) {
        yield create(ResponseV1Schema, {
          validHost: req.host,
          originalRequest: req,
          messageResponse: answer(index, encoded, req, sent),
        });
      }
    },
  };
}

/**
 * createReflectionServiceV1alpha implements the older
 * `grpc.reflection.v1alpha.ServerReflection`, identical to
 * {@link createReflectionServiceV1}, for clients that only know v1alpha.
 */
export function createReflectionServiceV1alpha(options: ReflectionServiceOptions): ServiceImpl<typeof ServerReflectionV1alpha> {
  const index = validate(options, "createReflectionServiceV1alpha");
  const encoded = new Map<string, Uint8Array>();
  return {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>();
      for await (const req of requests) {
        yield create(ResponseV1alphaSchema, {
          validHost: req.host,
          originalRequest: req,
          messageResponse: answer(index, encoded, req, sent),
        });
      }
    },
  };
}
