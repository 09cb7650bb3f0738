#!/bin/sh
# A test CA and what the security guide's examples use, made in the current directory:
#   sh make-test-ca.sh
# For development and tests only: the CA key sits unprotected next to the certificates.
set -eu
umask 077    # keys and the password file: readable by you alone

# --- the CA ---
openssl req -x509 -new -newkey rsa:3072 -nodes -days 3650 \
    -keyout ca.key -out ca.pem -subj "/CN=bws test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"

# --- a server certificate ---
cat > server.ext <<EOF
subjectAltName = DNS:localhost, IP:127.0.0.1
extendedKeyUsage = serverAuth
basicConstraints = CA:FALSE
EOF
openssl req -new -newkey rsa:3072 -nodes -keyout server.key -out server.csr \
    -subj "/CN=localhost"
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 825 -out server.pem -extfile server.ext

# --- a client certificate ---
printf "extendedKeyUsage = clientAuth\nbasicConstraints = CA:FALSE\n" > client.ext
openssl req -new -newkey rsa:3072 -nodes -keyout client.key -out client.csr \
    -subj "/CN=alice"
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 825 -out client.pem -extfile client.ext

# --- a password, an encrypted key and PKCS#12 stores ---
openssl rand -hex 16 > password.txt
openssl pkey -in server.key -aes256 -out server-encrypted.key -passout file:password.txt
openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem \
    -out server.p12 -passout file:password.txt
openssl pkcs12 -export -nokeys -in ca.pem -out truststore.p12 -passout file:password.txt

# --- a certificate revocation list (nothing revoked yet) ---
cat > ca.cnf <<EOF
[ca]
default_ca = test_ca
[test_ca]
certificate = ca.pem
private_key = ca.key
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 30
EOF
: > index.txt
echo 1000 > crlnumber
openssl ca -config ca.cnf -gencrl -out ca.crl
