import { create, createFileRegistry, fromBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  ServerReflection as ReflectionV1,
  type ServerReflectionRequest as RequestV1,
  type ServerReflectionResponse as ResponseV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { file_tokenkit_v1_auth_error } from "../../gen/tokenkit/v1/auth_error_pb.js";
import { TokenService } from "../../gen/tokenkit/v1/token_service_pb.js";
import { HeartbeatService } from "../../gen/tokenkit/v1/heartbeat_service_pb.js";
import { createReflectionServiceV1, createReflectionServiceV1alpha } from "../../src/server/serve/reflection-service.js";

type Req = Omit<RequestV1, "$typeName" | "host"> extends infer R ? R : never;

const SERVED = [TokenService, HeartbeatService, file_tokenkit_v1_auth_error, Health, ReflectionV1] as const;

function v1Client() {
  const transport = createRouterTransport((router) => {
    router.service(ReflectionV1, createReflectionServiceV1({ services: SERVED }));
    router.service(ReflectionV1alpha, createReflectionServiceV1alpha({ services: SERVED }));
  });
  return { v1: createClient(ReflectionV1, transport), v1alpha: createClient(ReflectionV1alpha, transport) };
}

/** Sends `requests` on one reflection stream and collects the responses. */
async function exchange(requests: Req["messageRequest"][]): Promise<ResponseV1[]> {
  const { v1 } = v1Client();
  async function* input() {
    for (const messageRequest of requests) {
      yield { host: "localhost", messageRequest };
    }
  }
  const out: ResponseV1[] = [];
  for await (const res of v1.serverReflectionInfo(input())) {
    out.push(res);
  }
  return out;
}

function files(res: ResponseV1 | undefined): FileDescriptorProto[] {
  expect(res?.messageResponse.case).toBe("fileDescriptorResponse");
  const value = res?.messageResponse.value as { fileDescriptorProto: Uint8Array[] };
  return value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

describe("gRPC server reflection", () => {
  it("lists the served services, sorted, echoing the request", async () => {
    const [res] = await exchange([{ case: "listServices", value: "*" }]);
    expect(res?.validHost).toBe("localhost");
    expect(res?.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "*" });
    expect(res?.messageResponse.case).toBe("listServicesResponse");
    const names = (res?.messageResponse.value as { service: { name: string }[] }).service.map((s) => s.name);
    expect(names).toEqual(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "tokenkit.v1.HeartbeatService", "tokenkit.v1.TokenService"]);
  });

  it("describes the file of a service with its transitive imports, each import once per stream", async () => {
    const [first, second, third] = await exchange([
      { case: "fileContainingSymbol", value: "tokenkit.v1.TokenService" },
      { case: "fileByFilename", value: "tokenkit/v1/token_service.proto" },
      { case: "fileContainingSymbol", value: "tokenkit.v1.HeartbeatService" },
    ]);
    const a = files(first);
    expect(a.map((f) => f.name)).toEqual(["tokenkit/v1/token_service.proto", "google/protobuf/timestamp.proto"]);
    expect(a[0]?.service.map((s) => s.name)).toEqual(["TokenService"]);
    expect(a[0]?.service[0]?.method.map((m) => m.name)).toEqual(["IssueToken", "ExchangeToken", "RefreshToken", "RevokeToken"]);
    // The requested file again, without the import already sent on this stream.
    expect(files(second).map((f) => f.name)).toEqual(["tokenkit/v1/token_service.proto"]);
    const c = files(third).map((f) => f.name);
    expect(c[0]).toBe("tokenkit/v1/heartbeat_service.proto");
    expect(c).not.toContain("google/protobuf/timestamp.proto");
    expect(c).toContain("google/protobuf/duration.proto");
  });

  it("sends enough to rebuild every type a served method uses", async () => {
    const [res] = await exchange([{ case: "fileContainingSymbol", value: "tokenkit.v1.TokenService" }]);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: files(res).reverse() }));
    const service = registry.getService("tokenkit.v1.TokenService");
    expect(service?.methods.map((m) => m.input.typeName)).toContain("tokenkit.v1.IssueTokenRequest");
    const pair = registry.getMessage("tokenkit.v1.TokenPair");
    expect(pair?.field.accessTokenExpireTime?.message?.typeName).toBe("google.protobuf.Timestamp");
  });

  it.each([
    ["method", "tokenkit.v1.TokenService.IssueToken", "tokenkit/v1/token_service.proto"],
    ["message", "tokenkit.v1.TokenPair", "tokenkit/v1/token_service.proto"],
    ["leading dot", ".tokenkit.v1.TokenPair", "tokenkit/v1/token_service.proto"],
    ["nested map entry", "tokenkit.v1.IssueTokenRequest.MetadataEntry", "tokenkit/v1/token_service.proto"],
    ["field", "tokenkit.v1.TokenPair.session_id", "tokenkit/v1/token_service.proto"],
    ["enum", "tokenkit.v1.AuthErrorReason", "tokenkit/v1/auth_error.proto"],
    ["enum value", "tokenkit.v1.AUTH_ERROR_REASON_TOKEN_EXPIRED", "tokenkit/v1/auth_error.proto"],
    ["well-known type", "google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
    ["health", "grpc.health.v1.Health.Check", "grpc/health/v1/health.proto"],
  ])("finds the file of a %s", async (_, symbol, file) => {
    const [res] = await exchange([{ case: "fileContainingSymbol", value: symbol }]);
    expect(files(res)[0]?.name).toBe(file);
  });

  it.each([
    ["an unknown symbol", { case: "fileContainingSymbol", value: "tokenkit.v1.NoSuchService" }],
    ["a package name", { case: "fileContainingSymbol", value: "tokenkit.v1" }],
    ["an unknown file", { case: "fileByFilename", value: "nope.proto" }],
    ["an unknown extension", { case: "fileContainingExtension", value: { containingType: "tokenkit.v1.TokenPair", extensionNumber: 1000 } }],
    ["extensions of an unknown type", { case: "allExtensionNumbersOfType", value: "tokenkit.v1.Nope" }],
  ] as [string, Req["messageRequest"]][])("answers NOT_FOUND for %s and keeps the stream open", async (_, request) => {
    const [err, after] = await exchange([request, { case: "fileByFilename", value: "google/protobuf/timestamp.proto" }]);
    expect(err?.messageResponse.case).toBe("errorResponse");
    expect(err?.messageResponse.value).toMatchObject({ errorCode: 5 });
    expect(files(after).map((f) => f.name)).toEqual(["google/protobuf/timestamp.proto"]);
  });

  it("lists no extension numbers for a known message without extensions", async () => {
    const [res] = await exchange([{ case: "allExtensionNumbersOfType", value: "tokenkit.v1.TokenPair" }]);
    expect(res?.messageResponse).toMatchObject({ case: "allExtensionNumbersResponse", value: { baseTypeName: "tokenkit.v1.TokenPair", extensionNumber: [] } });
  });

  it("answers INVALID_ARGUMENT for an empty request", async () => {
    const [res] = await exchange([{ case: undefined }]);
    expect(res?.messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 3 } });
  });

  it("serves v1alpha identically", async () => {
    const { v1alpha } = v1Client();
    async function* input() {
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "tokenkit.v1.RefreshTokenRequest" } };
    }
    const out = [];
    for await (const res of v1alpha.serverReflectionInfo(input())) {
      out.push(res);
    }
    expect(out).toHaveLength(1);
    expect(out[0]?.$typeName).toBe("grpc.reflection.v1alpha.ServerReflectionResponse");
    const value = out[0]?.messageResponse.value as { fileDescriptorProto: Uint8Array[] };
    expect(fromBinary(FileDescriptorProtoSchema, value.fileDescriptorProto[0]!).name).toBe("tokenkit/v1/token_service.proto");
  });

  it("validates its options", () => {
    expect(() => createReflectionServiceV1({ services: undefined as never })).toThrow(/"services"/);
    expect(() => createReflectionServiceV1({ services: [{} as DescFile] })).toThrow(/"services"/);
  });
});
