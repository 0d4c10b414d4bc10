//! What the screens say, in Indonesian (the default) and English, and the engine's refusals as
//! sentences a cashier understands.

use kasir_node::types::NodeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    pub fn other(self) -> Lang {
        match self {
            Lang::Id => Lang::En,
            Lang::En => Lang::Id,
        }
    }

    /// The language's own name (on the switch button).
    pub fn name(self) -> &'static str {
        match self {
            Lang::Id => "Bahasa Indonesia",
            Lang::En => "English",
        }
    }
}

macro_rules! texts {
    ($( $key:ident: $id:literal, $en:literal; )*) => {
        /// A text of the screens.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum T { $( $key, )* }

        impl T {
            pub(crate) fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $( (T::$key, Lang::Id) => $id, (T::$key, Lang::En) => $en, )*
                }
            }
        }
    };
}

texts! {
    Lane: "Kasir", "Lane";
    Online: "Daring", "Online";
    Offline: "Luring", "Offline";
    LanesConnected: "kasir terhubung", "lanes connected";
    Leader: "pemimpin", "leader";
    Backlog: "antrean HQ", "HQ backlog";
    ShiftOpen: "shift buka", "shift open";
    NoShift: "belum buka shift", "no shift";
    LogOut: "Keluar", "Log out";
    LogInTitle: "Masuk kasir", "Log in";
    User: "Pengguna", "User";
    Pin: "PIN", "PIN";
    LogIn: "Masuk [Enter]", "Log in [Enter]";
    DemoUsers: "Mode demo — pengguna dan PIN:", "Demo mode — users and PINs:";
    OpenShiftTitle: "Buka shift", "Open a shift";
    Float: "Modal awal di laci", "Float in the drawer";
    OpenShift: "Buka shift [Enter]", "Open shift [Enter]";
    NotAnAmount: "Masukkan jumlah dalam rupiah, misalnya 500.000", "Enter an amount in rupiah, e.g. 500.000";
    Scan: "Pindai / kode", "Scan / code";
    Item: "Barang", "Item";
    Qty: "Jml", "Qty";
    Price: "Harga", "Price";
    LineTotal: "Total", "Total";
    Stock: "Stok", "Stock";
    OnlyLeft: "stok tinggal", "only in stock:";
    Subtotal: "Subtotal", "Subtotal";
    Discount: "Diskon", "Discount";
    Tax: "PPN", "VAT";
    Total: "Total", "Total";
    Pay: "Bayar [F12]", "Pay [F12]";
    CashDue: "Harus dibayar (tunai)", "Due (cash)";
    Exact: "Uang pas", "Exact";
    Tendered: "Uang diterima", "Cash received";
    Change: "Kembalian", "Change";
    Back: "Kembali [Esc]", "Back [Esc]";
    NotEnough: "Uang kurang: harus dibayar", "Not enough: due";
    NextCustomer: "Pelanggan berikut [Enter]", "Next customer [Enter]";
    Search: "Cari [F2]", "Search [F2]";
    SearchField: "Cari produk (nama, SKU, barcode)", "Search products (name, SKU, barcode)";
    NoMatch: "Tidak ada produk yang cocok", "No product matches";
    SearchHint: "Atas/Bawah pilih · Enter tambah · Esc tutup", "Up/Down choose · Enter add · Esc close";
    Quantity: "Jumlah [F4]", "Quantity [F4]";
    NewQuantity: "Jumlah baru", "New quantity";
    RemoveLine: "Hapus baris [F8]", "Remove line [F8]";
    Park: "Tunda [F6]", "Park [F6]";
    Recall: "Panggil [F7]", "Recall [F7]";
    ParkedSales: "Transaksi tertunda", "Parked sales";
    NoParked: "Tidak ada transaksi tertunda", "No parked sales";
    ParkedLabel: "Tunda", "Parked";
    Lines: "baris", "lines";
    Close: "Tutup [Esc]", "Close [Esc]";
    Card: "Kartu [F5]", "Card [F5]";
    EWallet: "E-wallet [F6]", "E-wallet [F6]";
    Transfer: "Transfer bank [F7]", "Bank transfer [F7]";
    Reference: "Kode approval / referensi", "Approval code / reference";
    NonCashAmount: "Jumlah non-tunai", "Non-cash amount";
    AmountDue: "Total belanja", "Amount due";
    PaidSoFar: "Sudah dibayar", "Paid so far";
    NeedReference: "Masukkan kode approval atau referensi pembayaran", "Enter the payment's approval code or reference";
    Refund: "Retur [F9]", "Refund [F9]";
    RefundTitle: "Retur penjualan", "Refund a sale";
    ReceiptNumber: "Nomor transaksi (pindai struk)", "Transaction number (scan the receipt)";
    Bought: "Dibeli", "Bought";
    Returnable: "Bisa diretur", "Returnable";
    ReturnQty: "Jumlah retur", "Return qty";
    Reason: "Alasan", "Reason";
    DoRefund: "Retur [F10]", "Refund [F10]";
    SupervisorApproval: "Persetujuan supervisor", "Supervisor approval";
    Supervisor: "Supervisor", "Supervisor";
    SupervisorPin: "PIN supervisor", "Supervisor PIN";
    NotAQuantity: "Bukan jumlah", "Not a quantity";
    RefundDue: "Uang dikembalikan", "Refund to customer";
    RefundNumber: "Retur", "Refund";
    LineDiscount: "Diskon [F5]", "Discount [F5]";
    NewDiscount: "Diskon baris (10% atau 5.000; kosong: tanpa diskon)", "Line discount (10% or 5.000; empty: none)";
    PriceOverride: "Ubah harga [F3]", "Price [F3]";
    NewPrice: "Harga baru", "New price";
    VoidSale: "Batal transaksi [F11]", "Void sale [F11]";
    ConfirmVoid: "Batalkan seluruh transaksi? Enter: ya · Esc: tidak", "Void the whole sale? Enter: yes · Esc: no";
    NeedsSupervisor: "Perlu persetujuan supervisor: masukkan pengguna dan PIN supervisor, lalu Enter", "A supervisor must approve: enter the supervisor's user and PIN, then Enter";
    CustomerKey: "Pelanggan [F1]", "Customer [F1]";
    Customer: "Pelanggan", "Customer";
    FindCustomer: "Cari pelanggan (HP, kode member, nama)", "Find a customer (phone, member code, name)";
    NoCustomer: "Tidak ada pelanggan yang cocok: F5 untuk mendaftarkan", "No customer matches: F5 to sign one up";
    SignUp: "Pelanggan baru [F5]", "New customer [F5]";
    NewCustomer: "Pelanggan baru", "New customer";
    CustomerName: "Nama pelanggan", "Customer's name";
    Phone: "No. HP", "Phone";
    Points: "poin", "points";
    RedeemPoints: "Tukar poin (Enter)", "Redeem points (Enter)";
    Detach: "Lepas pelanggan [F8]", "Remove customer [F8]";
    Reprint: "Cetak ulang [F4]", "Reprint [F4]";
    Copy: "SALINAN", "COPY";
    NoSale: "Buka laci [F10]", "No sale [F10]";
    NoSaleReason: "Alasan buka laci tanpa penjualan", "Why the drawer opens without a sale";
    NeedReason: "Tulis alasannya dulu", "Write the reason first";
    DrawerOpened: "Laci dibuka tanpa penjualan (tercatat)", "Drawer opened without a sale (logged)";
    TooMuchNonCash: "Kartu, e-wallet dan transfer tidak boleh melebihi sisa", "Card, e-wallet and transfer cannot exceed what is left";
}

/// A refusal of the engine as a sentence for the cashier, in `lang`.
pub(crate) fn error(lang: Lang, e: &kasir_node::Error) -> String {
    let kasir_node::Error::Engine(engine) = e else {
        return e.to_string();
    };
    match (engine, lang) {
        (NodeError::BarcodeNotFound { code }, Lang::Id) => {
            format!("Barcode {code} tidak ada di katalog: cari barangnya dengan nama atau SKU")
        }
        (NodeError::BarcodeNotFound { code }, Lang::En) => {
            format!("Barcode {code} is not in the catalog: search the product by name or SKU")
        }
        (NodeError::WrongCredentials { remaining }, Lang::Id) => {
            format!("Pengguna atau PIN salah (sisa {remaining} percobaan sebelum akun dikunci)")
        }
        (NodeError::LockedOut { until }, lang) => {
            let left = (*until - chrono_now()).num_minutes().max(0) + 1;
            match lang {
                Lang::Id => format!(
                    "Akun dikunci karena PIN salah berkali-kali: coba lagi dalam {left} menit, atau minta manajer membukanya"
                ),
                Lang::En => format!(
                    "The account is locked after too many wrong PINs: try again in {left} minutes, or ask a manager to unlock it"
                ),
            }
        }
        (NodeError::EmptyCart, Lang::Id) => "Keranjang masih kosong".into(),
        (NodeError::NoOpenShift, Lang::Id) => "Belum ada shift yang buka di kasir ini".into(),
        (NodeError::NotLoggedIn, Lang::Id) => "Belum ada yang masuk".into(),
        (other, _) => other.to_string(),
    }
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}
