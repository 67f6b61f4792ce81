/* vmrun's error classifier: which fault a failed vmrun call is, by its message text alone.
 * Errors come from vmrun on stdout as "Error: ..." with exit code 255 (-1 from a Windows
 * vmrun.exe, 255 through WSL), sometimes after other lines ("<time>| ServiceImpl_Opener: PID n",
 * vagrant#6216; "Unable to connect to host.", GNS3/gns3-gui#1967). The VMX path is taken off
 * first (": <vmx>" after the text, "Cannot open VM: <vmx>, " before it) and the rest is compared
 * by prefix with the table of known messages, so a folder named "blockchain" is never a "lock".
 * Also each fault's name and the advice shown with it. Every message and where it was seen:
 * docs/vmware.md. The calls themselves: vmrun.c. */
#include "k3sforge/vmrun.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vmrun_internal.h"

static bool has_ci(const char *hay, const char *needle)
{
	return strcasestr(hay, needle) != NULL;
}

static bool starts_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* The first "Error: ..." line (without the prefix) into buf; false if none. */
bool vmrun_error_line(const char *output, char *buf, size_t n)
{
	const char *p = output;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len >= 7 && strncmp(p, "Error: ", 7) == 0) {
			len -= 7;
			while (len && (p[7 + len - 1] == '\r' || p[7 + len - 1] == ' '))
				len--;
			snprintf(buf, n, "%.*s", (int)(len > 400 ? 400 : len), p + 7);
			return true;
		}
		p = eol ? eol + 1 : NULL;
	}
	return false;
}

/* Takes the VM's path off an error message, in place: "Cannot open VM: <vmx>, <reason>" →
 * "<reason>" (vagrant#5675 shows the form), and "<text>: <vmx>" → "<text>" (vagrant#11528).
 * Without vmx the reason is what follows the last ", " and the text what precedes the first
 * ": " followed by something that looks like a path. */
static void strip_vmx(char *e, const char *vmx)
{
	static const char open_vm[] = "Cannot open VM: ";
	size_t vl = vmx ? strlen(vmx) : 0;
	char *p;

	if (starts_ci(e, open_vm)) {
		char *rest = e + strlen(open_vm);
		if (vl && strncasecmp(rest, vmx, vl) == 0 && strncmp(rest + vl, ", ", 2) == 0)
			p = rest + vl + 2;
		else if ((p = strstr(rest, ".vmx, ")) != NULL || (p = strstr(rest, ".VMX, ")) != NULL)
			p += 6;
		else
			p = (p = strrchr(rest, ',')) ? p + 1 + (p[1] == ' ') : rest + strlen(rest);
		memmove(e, p, strlen(p) + 1);
		return;
	}
	if (vl && (p = strstr(e, vmx)) != NULL && p >= e + 2 && p[vl] == '\0' &&
	    strncmp(p - 2, ": ", 2) == 0) {
		p[-2] = '\0';
		return;
	}
	for (p = strstr(e, ": "); p; p = strstr(p + 1, ": ")) {
		const char *t = p + 2;
		bool pathlike = t[0] == '/' || t[0] == '\\' || t[0] == '[' ||
				(isalpha((unsigned char)t[0]) && t[1] == ':');
		if (pathlike) {
			*p = '\0';
			return;
		}
	}
}

/* The message texts k3sforge knows, compared by prefix (case-insensitive) after the VMX path
 * is gone. Sources: docs/vmware.md. */
static const struct {
	const char *text;
	enum kf_vmrun_fault fault;
} known[] = {
	{ "The VMware Tools are not running in the virtual machine", KF_VMRUN_TOOLS_NOT_RUNNING },
	{ "Invalid user name or password for the guest OS", KF_VMRUN_BAD_CREDENTIALS },
	{ "The virtual machine is not powered on", KF_VMRUN_NOT_POWERED_ON },
	{ "The virtual machine cannot be found", KF_VMRUN_VM_NOT_FOUND },
	{ "The virtual machine is not registered", KF_VMRUN_VM_NOT_FOUND },
	{ "Cannot read the virtual machine configuration file", KF_VMRUN_BAD_CONFIG },
	{ "The file is already in use", KF_VMRUN_FILE_LOCKED },
	{ "Insufficient permissions", KF_VMRUN_PERMISSION },
	{ "The operation was canceled", KF_VMRUN_CANCELED },
	{ "Service type VIX_SERVICEPROVIDER_", KF_VMRUN_NO_SERVICE },
	{ "Unrecognized command", KF_VMRUN_USAGE },
	{ "Invalid argument", KF_VMRUN_USAGE },
	{ "Unknown error", KF_VMRUN_UNKNOWN },
};

enum kf_vmrun_fault kf_vmrun_classify_vm(const char *output, const char *vmx, int exit_code,
					 bool timed_out)
{
	char e[512];

	if (timed_out)
		return KF_VMRUN_TIMEOUT;
	if (!output)
		output = "";
	if (!vmrun_error_line(output, e, sizeof(e))) {
		if (has_ci(output, "Usage: vmrun") || has_ci(output, "Invalid argument"))
			return KF_VMRUN_USAGE;
		return exit_code == 0 ? KF_VMRUN_OK : KF_VMRUN_UNKNOWN;
	}
	strip_vmx(e, vmx);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (starts_ci(e, known[i].text))
			return known[i].fault;
	return KF_VMRUN_UNKNOWN;
}

enum kf_vmrun_fault kf_vmrun_classify(const char *output, int exit_code, bool timed_out)
{
	return kf_vmrun_classify_vm(output, NULL, exit_code, timed_out);
}

const char *kf_vmrun_fault_name(enum kf_vmrun_fault f)
{
	switch (f) {
	case KF_VMRUN_OK: return "ok";
	case KF_VMRUN_TOOLS_NOT_RUNNING: return "tools-not-running";
	case KF_VMRUN_BAD_CREDENTIALS: return "invalid-guest-credentials";
	case KF_VMRUN_VM_NOT_FOUND: return "vm-not-found";
	case KF_VMRUN_NOT_POWERED_ON: return "not-powered-on";
	case KF_VMRUN_FILE_LOCKED: return "file-locked";
	case KF_VMRUN_USAGE: return "usage-error";
	case KF_VMRUN_PERMISSION: return "permission-denied";
	case KF_VMRUN_TIMEOUT: return "timeout";
	case KF_VMRUN_NOT_INSTALLED: return "vmrun-not-installed";
	case KF_VMRUN_CANCELED: return "operation-canceled";
	case KF_VMRUN_NO_SERVICE: return "workstation-service-missing";
	case KF_VMRUN_BAD_CONFIG: return "vmx-unreadable";
	case KF_VMRUN_UNKNOWN: break;
	}
	return "unknown";
}

const char *kf_vmrun_fault_advice(enum kf_vmrun_fault f)
{
	switch (f) {
	case KF_VMRUN_OK: return "no error";
	case KF_VMRUN_TOOLS_NOT_RUNNING:
		return "VMware Tools are not running in the guest yet (still booting or installing); "
		       "wait and retry, and if it lasts open the VM console and check that "
		       "open-vm-tools is installed and running";
	case KF_VMRUN_BAD_CREDENTIALS:
		return "the guest rejected the user name or password given with -gu/-gp; check "
		       "guest.user and the password set in the seed, and that the install finished";
	case KF_VMRUN_VM_NOT_FOUND:
		return "VMware cannot open this .vmx; check that the file exists (under WSL it must "
		       "be on a Windows drive such as /mnt/c) and run `k3sforge create-vms` again";
	case KF_VMRUN_NOT_POWERED_ON:
		return "the VM is not running; start it first (`k3sforge create-vms` starts every node)";
	case KF_VMRUN_FILE_LOCKED:
		return "the VM's files are in use by another VMware process (open in the Workstation "
		       "window, or an earlier run still holds the lock); close the VM there or wait, "
		       "then retry";
	case KF_VMRUN_USAGE:
		return "vmrun rejected the command line and printed its usage; this is a k3sforge "
		       "bug or an unsupported vmrun version: report it with the command line from "
		       "k3sforge.log";
	case KF_VMRUN_PERMISSION:
		return "vmrun was denied access on the host or in the guest; run k3sforge as a user "
		       "allowed to use VMware Workstation who can write the VM folder";
	case KF_VMRUN_TIMEOUT:
		return "vmrun gave no answer within timeouts.vmrun_s; VMware may be hung or waiting "
		       "on a dialog in the Workstation window: check it, or raise timeouts.vmrun_s";
	case KF_VMRUN_NOT_INSTALLED:
		return "vmrun is missing; install VMware Workstation 17 Pro or set vmware.vmrun to "
		       "its full path";
	case KF_VMRUN_CANCELED:
		return "VMware canceled the operation (k3sforge retried it); the reason is in "
		       "vmware.log next to the .vmx, after \"Msg_Post: Error\" (often missing kernel "
		       "modules vmmon/vmnet, too little memory, or a dialog waiting in the "
		       "Workstation window): fix that and run again";
	case KF_VMRUN_NO_SERVICE:
		return "vmrun could not reach VMware Workstation (\"Unable to connect to host\"): "
		       "this vmrun belongs to VMware Player or a stand-alone VIX, or Workstation is "
		       "not installed for this user; install VMware Workstation Pro 17 and point "
		       "vmware.vmrun at its vmrun";
	case KF_VMRUN_BAD_CONFIG:
		return "VMware cannot read this .vmx (permissions, a half-written file, or a file "
		       "from a newer product); check that it is readable by this user, or remove "
		       "the VM folder and run `k3sforge create-vms` again";
	case KF_VMRUN_UNKNOWN: break;
	}
	return "vmrun failed without naming a known cause; look at vmware.log next to the .vmx "
	       "and in the Workstation window";
}
