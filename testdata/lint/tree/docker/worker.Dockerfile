ARG BASE
FROM ${BASE} AS base
FROM scratch
COPY --from=base /bin/worker /worker
