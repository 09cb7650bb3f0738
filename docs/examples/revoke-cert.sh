#!/bin/sh
# Revoke a certificate of the test CA and publish a new ca.crl, in the folder where
# make-test-ca.sh ran:
#   sh revoke-cert.sh client.pem
set -eu
openssl ca -config ca.cnf -revoke "$1"
openssl ca -config ca.cnf -gencrl -out ca.crl
