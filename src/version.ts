/** The package version, reported by `grpcroute --version` and in logs. */
export const VERSION = "0.1.0";
