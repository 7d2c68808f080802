# Adds the delegated service account of docs/permissions.md to a freshly
# provisioned, stopped Samba DC: the OU tests write under, a plain user, and
# on the OU exactly the rights the docs tell admins to delegate:
#   dsacls OU /I:T /G "CONTOSO\svc-groupwriteback:CCDC;group"
#   dsacls OU /I:S /G "CONTOSO\svc-groupwriteback:RPWP;;group"
# Usage: python3 delegate.py SMB_CONF SAM_LDB OU_DN USER PASSWORD
import sys
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
from samba.sd_utils import SDUtils
from samba.ndr import ndr_unpack
from samba.dcerpc import security

conf, sam, ou, user, password = sys.argv[1:6]
lp = LoadParm()
lp.load(conf)
db = SamDB(url=sam, lp=lp, session_info=system_session())
GROUP_CLASS = "bf967a9c-0de6-11d0-a285-00aa003049e2"
db.add({"dn": ou, "objectClass": "organizationalUnit"})
db.newuser(user, password)
res = db.search(base=db.domain_dn(), expression="(sAMAccountName=%s)" % user, attrs=["objectSid"])
sid = str(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))
sd = SDUtils(db)
# Create and delete group objects, in the OU and every OU under it.
sd.dacl_add_ace(ou, "(OA;CI;CCDC;%s;;%s)" % (GROUP_CLASS, sid))
# Read and write all properties of group objects under it.
sd.dacl_add_ace(ou, "(OA;CIIO;RPWP;;%s;%s)" % (GROUP_CLASS, sid))
