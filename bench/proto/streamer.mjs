// bench.Streamer, shared by the benchmark backend and the streaming client: raw-bytes methods described by
// hand instead of by a .proto, so the cost measured is the transport's, not protobuf's.
const identity = (b) => b;
export const streamerService = {
  Download: {
    path: "/bench.Streamer/Download",
    requestStream: false,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
  Echo: {
    path: "/bench.Streamer/Echo",
    requestStream: true,
    responseStream: true,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
