import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  HealthCheckResponse_ServingStatus,
  type Health,
} from "../../../gen/grpc/health/v1/health_pb.js";

/** HealthServiceOptions configures {@link createHealthService}. */
export interface HealthServiceOptions {
  /**
   * services lists the fully-qualified names of the services this server
   * serves (`"tokenkit.v1.TokenService"`); `Check` answers `SERVING` for them
   * and for `""` (the server as a whole). Required.
   */
  services: readonly string[];
  /**
   * serving reports whether the server accepts calls; when it returns false
   * (during shutdown), `Check` answers `NOT_SERVING` so load balancers drain.
   * @default () => true
   */
  serving?: () => boolean;
}

/**
 * createHealthService implements `grpc.health.v1.Health/Check` as grpc-health
 * does: `SERVING` for `""` and each registered service, `NotFound` for an
 * unknown service. `Watch` is left out, so it answers `Unimplemented`.
 */
export function createHealthService(options: HealthServiceOptions): Partial<ServiceImpl<typeof Health>> {
  if (!Array.isArray(options?.services) || options.services.some((s) => typeof s !== "string" || s === "")) {
    throw new TypeError('createHealthService: option "services" must be a list of service names');
  }
  if (options.serving !== undefined && typeof options.serving !== "function") {
    throw new TypeError('createHealthService: option "serving" must be a function');
  }
  const known = new Set(options.services);
  const serving = options.serving ?? (() => true);
  return {
    check(req) {
      if (req.service !== "" && !known.has(req.service)) {
        throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      }
      return {
        status: serving() ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING,
      };
    },
  };
}
