# levee's container image: built in a Rust image, run from a distroless one
# as a non-root user. Build: docker build -t levee .
FROM rust:1.90-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin levee \
    && cp target/release/levee /levee

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /levee /levee
COPY examples/levee.yml /etc/levee/levee.yml
USER 65532:65532
EXPOSE 9310
ENTRYPOINT ["/levee"]
CMD ["run", "--config.file=/etc/levee/levee.yml", "--storage.agent.path=/tmp/levee", "--web.listen-address=0.0.0.0:9310"]
