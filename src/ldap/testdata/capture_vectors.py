#!/usr/bin/python3
"""Captures the LDAP test vectors of message_test.cpp from real clients.

Runs a tiny LDAP responder on 127.0.0.1 (port 0) that records every LDAPMessage it receives
and answers with responses encoded by pyasn1 through ldap3's RFC 4511 classes. Then drives
two real clients against it: python3-ldap3 (Connection: bind, search with a complex filter
and the paged-results control, Who am I?, StartTLS, unbind) and OpenLDAP's ldapsearch /
ldapwhoami (ldap-utils). Prints each captured request and each canned response as
"name hex" lines; message_test.cpp holds a copy of them.

Needs Debian's python3-ldap3 and ldap-utils; run with /usr/bin/python3:
    /usr/bin/python3 src/ldap/testdata/capture_vectors.py
"""
import socket
import subprocess
import sys
import threading

from pyasn1.codec.ber import encoder
from ldap3 import Server, Connection, SUBTREE, LEVEL
from ldap3.protocol.rfc4511 import (LDAPMessage, MessageID, ProtocolOp, BindResponse, SearchResultEntry,
                                    SearchResultDone, ExtendedResponse, ResultCode, LDAPDN, LDAPString,
                                    PartialAttributeList, PartialAttribute, Vals, AttributeDescription,
                                    AttributeValue, ResponseName, ResponseValue, Controls, Control)
from ldap3.protocol.rfc2696 import RealSearchControlValue, Size, Cookie

captured = []   # (label, bytes)
responses = {}  # name -> bytes


def message(msg_id, op_name, op, controls=None):
    m = LDAPMessage()
    m['messageID'] = MessageID(msg_id)
    m['protocolOp'] = ProtocolOp().setComponentByName(op_name, op)
    if controls is not None:
        m['controls'] = controls
    return encoder.encode(m)


def result_fields(op, code, matched='', diag=''):
    op['resultCode'] = ResultCode(code)
    op['matchedDN'] = LDAPDN(matched)
    op['diagnosticMessage'] = LDAPString(diag)


def bind_response(msg_id, code=0, diag=''):
    r = BindResponse()
    result_fields(r, code, '', diag)
    return message(msg_id, 'bindResponse', r)


def search_entry(msg_id, dn, attrs):
    e = SearchResultEntry()
    e['object'] = LDAPDN(dn)
    lst = PartialAttributeList()
    for i, (name, values) in enumerate(attrs):
        pa = PartialAttribute()
        pa['type'] = AttributeDescription(name)
        vals = Vals()
        for j, v in enumerate(values):
            vals.setComponentByPosition(j, AttributeValue(v))
        pa['vals'] = vals
        lst.setComponentByPosition(i, pa)
    e['attributes'] = lst
    return message(msg_id, 'searchResEntry', e)


def search_done(msg_id, code=0, diag='', paged=None):
    d = SearchResultDone()
    result_fields(d, code, '', diag)
    controls = None
    if paged is not None:
        v = RealSearchControlValue()
        v['size'] = Size(paged[0])
        v['cookie'] = Cookie(paged[1])
        c = Control()
        c['controlType'] = '1.2.840.113556.1.4.319'
        c['controlValue'] = encoder.encode(v)
        controls = Controls()
        controls.setComponentByPosition(0, c)
    return message(msg_id, 'searchResDone', d, controls)


def extended_response(msg_id, code=0, diag='', name=None, value=None):
    x = ExtendedResponse()
    result_fields(x, code, '', diag)
    if name is not None:
        x['responseName'] = ResponseName(name)
    if value is not None:
        x['responseValue'] = ResponseValue(value)
    return message(msg_id, 'extendedResp', x)


def read_message(conn):
    """One LDAPMessage, or None at EOF."""
    head = b''
    while True:
        b = conn.recv(1)
        if not b:
            return None
        head += b
        if len(head) >= 2:
            l0 = head[1]
            if l0 < 0x80:
                total = 2 + l0
                break
            n = l0 & 0x7F
            if len(head) == 2 + n:
                total = 2 + n + int.from_bytes(head[2:], 'big')
                break
    data = head
    while len(data) < total:
        chunk = conn.recv(total - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def msg_id_of(data):
    # 30 LL [len octets] 02 01 id  (ids stay small here)
    i = 2 + (data[1] & 0x7F if data[1] & 0x80 else 0)
    assert data[i] == 0x02
    n = data[i + 1]
    return int.from_bytes(data[i + 2:i + 2 + n], 'big'), data[i + 2 + n]


def serve(sock, label_box):
    while True:
        conn, _ = sock.accept()
        with conn:
            while True:
                data = read_message(conn)
                if data is None:
                    break
                msg_id, op = msg_id_of(data)
                captured.append((label_box[0] + '_' + {0x60: 'bind', 0x42: 'unbind', 0x63: 'search', 0x77: 'extended',
                                                       0x50: 'abandon'}.get(op, hex(op)), data))
                if op == 0x60:
                    conn.sendall(bind_response(msg_id))
                elif op == 0x63:
                    conn.sendall(search_entry(msg_id, 'cn=Alice Smith,ou=People,o=Example',
                                              [('cn', ['Alice Smith']), ('mail', ['alice.smith@example.org'])]))
                    conn.sendall(search_done(msg_id, paged=(0, b'') if b'1.2.840.113556.1.4.319' in data else None))
                elif op == 0x77:
                    if b'1.3.6.1.4.1.1466.20037' in data:
                        # Refuse, so the client does not try a handshake.
                        conn.sendall(extended_response(msg_id, 53, 'no TLS in the capture server'))
                    else:
                        conn.sendall(extended_response(msg_id, 0, '', None, 'dn:cn=Alice Smith,ou=People,o=Example'))
                elif op == 0x42:
                    break


def main():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    sock.listen(4)
    port = sock.getsockname()[1]
    label = ['ldap3']
    threading.Thread(target=serve, args=(sock, label), daemon=True).start()

    # python3-ldap3.
    server = Server('127.0.0.1', port=port, get_info=None)
    c = Connection(server, user='cn=Alice Smith,ou=People,o=Example', password='s3cret pass', auto_bind=True)
    c.search('ou=People,o=Example',
             '(&(objectClass=person)(|(cn=*smith*)(mail=smith@*)(sn~=smyth)(!(ou=Retired)))(age>=21)(age<=65)(givenName=Al*ce*e))',
             search_scope=SUBTREE, attributes=['cn', 'mail', 'telephoneNumber'], size_limit=50, time_limit=10,
             paged_size=25, paged_cookie=b'page2')
    c.extend.standard.who_am_i()
    try:
        c.start_tls()
    except Exception:
        pass
    c.unbind()

    # OpenLDAP's clients.
    base = ['-x', '-H', 'ldap://127.0.0.1:%d' % port, '-D', 'cn=Alice Smith,ou=People,o=Example', '-w', 'pw']
    label[0] = 'ldapsearch'
    subprocess.run(['ldapsearch'] + base + ['-b', 'o=Example', '-s', 'one', '-z', '100', '-l', '30', '-E', 'pr=10/noprompt',
                                            '(|(cn=Bob*)(mail=*@example.org)(telephoneNumber=*123*)(objectClass=*))',
                                            'cn', 'mail', 'displayName'],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    label[0] = 'ldapsearch_starttls'
    subprocess.run(['ldapsearch', '-ZZ'] + base + ['-b', '', '-s', 'base', '(objectClass=*)'],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    label[0] = 'ldapwhoami'
    subprocess.run(['ldapwhoami'] + base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)

    for name, data in captured:
        print('request', name, data.hex())
    print('response bind_ok', bind_response(1).hex())
    print('response bind_invalid', bind_response(2, 49, 'invalid credentials').hex())
    print('response entry', search_entry(3, 'cn=Alice Smith,ou=People,o=Example',
                                          [('cn', ['Alice Smith']), ('mail', ['alice.smith@example.org', 'a.smith@example.org']),
                                           ('objectClass', ['top', 'person', 'inetOrgPerson'])]).hex())
    print('response done_paged', search_done(3, 0, '', (120, b'\x00\x01cookie')).hex())
    print('response done_plain', search_done(4, 4, 'size limit exceeded').hex())
    print('response starttls_ok', extended_response(5, 0, '', '1.3.6.1.4.1.1466.20037').hex())
    print('response whoami', extended_response(6, 0, '', None, 'dn:cn=Alice Smith,ou=People,o=Example').hex())
    print('response notice', extended_response(0, 2, 'malformed request', '1.3.6.1.4.1.1466.20036').hex())
    sys.stdout.flush()


if __name__ == '__main__':
    main()
