FROM bb
RUN <<EOF
echo never closed
