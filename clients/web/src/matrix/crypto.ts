// End-to-end encryption with matrix-js-sdk's Rust crypto (WASM, the engine
// of Element Web): start it, set up cross-signing for a new account, key
// backup with a recovery key, restoring from one, and who is verified.
import { type MatrixClient, type MatrixEvent } from "matrix-js-sdk";
import { type CryptoCallbacks, EventShieldColour, decodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api";

// A recovery key the user typed, held only until secret storage asked for it.
let typedRecoveryKey: Uint8Array<ArrayBuffer> | null = null;
let generatedKey: Uint8Array<ArrayBuffer> | null = null;

/** Hands secret storage the key the user typed or the one just generated; never stored. */
export const cryptoCallbacks: CryptoCallbacks = {
  getSecretStorageKey: async ({ keys }) => {
    const key = generatedKey ?? typedRecoveryKey;
    const keyId = Object.keys(keys)[0];
    return key && keyId ? [keyId, key] : null;
  },
};

/**
 * Starts the crypto engine (its store is this browser's IndexedDB). With
 * the password of a brand-new account, sets up cross-signing, so the user
 * can verify and be verified from the start; the password is used once and
 * not kept.
 */
export async function startCrypto(client: MatrixClient, newAccountPassword?: string): Promise<void> {
  await client.initRustCrypto({ cryptoDatabasePrefix: `nexus-${client.getUserId()}-${client.getDeviceId()}` });
  const crypto = client.getCrypto()!;
  if (newAccountPassword && !(await crypto.isCrossSigningReady())) {
    await crypto.bootstrapCrossSigning({
      authUploadDeviceSigningKeys: async (makeRequest) => {
        await makeRequest({
          type: "m.login.password",
          identifier: { type: "m.id.user", user: client.getUserId()! },
          password: newAccountPassword,
        } as never);
      },
    });
  }
}

/** Sets up secret storage and key backup; returns the recovery key to show the user once. */
export async function setUpKeyBackup(client: MatrixClient): Promise<string> {
  const crypto = client.getCrypto()!;
  const key = await crypto.createRecoveryKeyFromPassphrase();
  generatedKey = key.privateKey;
  try {
    await crypto.bootstrapSecretStorage({ createSecretStorageKey: async () => key, setupNewSecretStorage: true, setupNewKeyBackup: true });
  } finally {
    generatedKey = null;
  }
  return key.encodedPrivateKey!;
}

/** Restores from a recovery key: cross-signing keys from secret storage, then the message keys in backup. */
export async function restoreWithRecoveryKey(client: MatrixClient, recoveryKey: string): Promise<number> {
  const crypto = client.getCrypto()!;
  typedRecoveryKey = decodeRecoveryKey(recoveryKey.trim());
  try {
    await crypto.bootstrapCrossSigning({});
    await crypto.loadSessionBackupPrivateKeyFromSecretStorage();
    await crypto.checkKeyBackupAndEnable();
    const result = await crypto.restoreKeyBackup();
    return result.imported;
  } finally {
    typedRecoveryKey = null;
  }
}

export type SecurityState = { crossSigning: boolean; backupVersion: string | null; deviceVerified: boolean };

export async function securityState(client: MatrixClient): Promise<SecurityState> {
  const crypto = client.getCrypto();
  if (!crypto) return { crossSigning: false, backupVersion: null, deviceVerified: false };
  const device = await crypto.getDeviceVerificationStatus(client.getUserId()!, client.getDeviceId()!);
  return {
    crossSigning: await crypto.isCrossSigningReady(),
    backupVersion: await crypto.getActiveSessionBackupVersion(),
    deviceVerified: !!device?.crossSigningVerified,
  };
}

export async function isUserVerified(client: MatrixClient, userId: string): Promise<boolean> {
  const status = await client.getCrypto()?.getUserVerificationStatus(userId);
  return !!status?.isCrossSigningVerified();
}

/** A shield for an encrypted message: null when all is well, otherwise why not. */
export async function messageShield(client: MatrixClient, event: MatrixEvent): Promise<string | null> {
  if (!event.isEncrypted()) return null;
  const info = await client.getCrypto()?.getEncryptionInfoForEvent(event);
  if (!info || info.shieldColour === EventShieldColour.NONE) return null;
  return info.shieldColour === EventShieldColour.RED ? "Sent from an unverified or unknown device" : "Authenticity not guaranteed";
}
