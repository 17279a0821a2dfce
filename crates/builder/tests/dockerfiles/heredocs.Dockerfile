FROM bb
RUN cat <<EOF > /a && cat <<'RAW' > /b
expanded $HOME
EOF
raw $HOME
RAW
RUN <<EOF
#!/bin/sh
echo script
EOF
COPY <<one.txt <<two.txt /files/
1
one.txt
2
two.txt
