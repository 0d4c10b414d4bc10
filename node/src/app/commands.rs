//! The till's commands ([`Command`]): each carried out on the till's thread, its error kept
//! for the view.

use kasir_core::NodeError;

use super::{Command, Engine, Outcome};
use crate::error::Result;

impl Command {
    /// The cashier's commands between customers that read no projection of the sales before
    /// them (catalog and cart only; `Pay` without a customer: `Till::commit_sale`), so they
    /// need not wait for the last sale's projections (`Engine::settle`).
    fn reads_no_projection(&self) -> bool {
        matches!(
            self,
            Command::Scan { .. }
                | Command::AddSku { .. }
                | Command::SetQuantity { .. }
                | Command::RemoveLine { .. }
                | Command::SetLineDiscount { .. }
                | Command::SetTransactionDiscount { .. }
                | Command::OverridePrice { .. }
                | Command::DetachCustomer
                | Command::Pay { .. }
                | Command::Watch { .. }
                | Command::DismissError
        )
    }
}

impl Engine {
    pub(super) fn execute(&mut self, command: Command) -> Result<Outcome> {
        if !command.reads_no_projection() {
            self.settle_now();
        }
        let result = self.run_command(command);
        match &result {
            Ok(_) => self.last_error = None,
            Err(e) => self.last_error = Some(e.to_string()),
        }
        result
    }

    fn run_command(&mut self, command: Command) -> Result<Outcome> {
        let t = &mut self.till;
        Ok(match command {
            Command::SetUp {
                config,
                lane,
                manager,
            } => {
                t.set_up(*config, lane, manager)?;
                Outcome::Done
            }
            Command::Login { username, pin } => {
                t.login(&username, &pin)?;
                Outcome::Done
            }
            Command::Logout => {
                t.logout();
                Outcome::Done
            }
            Command::Approve {
                username,
                pin,
                permission,
            } => Outcome::Approval(t.approve(&username, &pin, permission)?),
            Command::OpenShift { float } => Outcome::Shift(t.open_shift(float)?),
            Command::CashMove {
                kind,
                amount,
                reason,
                approval,
            } => {
                t.cash_move(kind, amount, &reason, approval.as_ref())?;
                Outcome::Done
            }
            Command::XReport { approval } => {
                Outcome::Report(Box::new(t.x_report(approval.as_ref())?))
            }
            Command::CloseShift { counted, approval } => {
                Outcome::Report(Box::new(t.close_shift(counted, approval.as_ref())?))
            }
            Command::Scan { code } => Outcome::Line(t.scan(&code)?),
            Command::AddSku { sku, quantity } => Outcome::Line(t.add_sku(&sku, quantity)?),
            Command::SetQuantity { line, typed } => {
                t.set_quantity(line, &typed)?;
                Outcome::Done
            }
            Command::RemoveLine { line } => {
                t.remove_line(line)?;
                Outcome::Done
            }
            Command::SetLineDiscount {
                line,
                discount,
                approval,
            } => {
                t.set_line_discount(line, discount, approval.as_ref())?;
                Outcome::Done
            }
            Command::SetTransactionDiscount { discount, approval } => {
                t.set_transaction_discount(discount, approval.as_ref())?;
                Outcome::Done
            }
            Command::OverridePrice {
                line,
                price,
                approval,
            } => {
                t.override_price(line, price, approval.as_ref())?;
                Outcome::Done
            }
            Command::AttachCustomer { id } => {
                t.attach_customer(id)?;
                Outcome::Done
            }
            Command::DetachCustomer => {
                t.detach_customer();
                Outcome::Done
            }
            Command::RedeemPoints { points } => {
                t.redeem_points(points)?;
                Outcome::Done
            }
            Command::Reprint { number } => {
                t.log_reprint(&number)?;
                Outcome::Done
            }
            Command::NoSale { reason, approval } => {
                t.no_sale(&reason, approval.as_ref())?;
                Outcome::Done
            }
            Command::VoidCart { approval } => {
                t.void_cart(approval.as_ref())?;
                Outcome::Done
            }
            Command::ParkCart { label } => Outcome::Parked(t.park_cart(&label)?),
            Command::RecallCart { id } => {
                t.recall_cart(id)?;
                Outcome::Done
            }
            Command::Pay { tenders } => {
                // Durable when this returns; the projections follow in `settle`.
                let r = t.commit_sale(&tenders)?;
                self.sales_since_maintenance += 1;
                self.last_receipt = Some(r.clone());
                Outcome::Receipt(Box::new(r))
            }
            Command::Refund {
                number,
                items,
                method,
                reason,
                approval,
            } => Outcome::Return(Box::new(t.refund(
                &number,
                &items,
                method,
                reason,
                approval.as_ref(),
            )?)),
            Command::CreateCustomer(c) => Outcome::Customer(Box::new(t.create_customer(c)?)),
            Command::ReceiveStock {
                sku,
                quantity,
                notes,
                approval,
            } => Outcome::Movement(Some(t.receive_stock(
                &sku,
                quantity,
                notes,
                approval.as_ref(),
            )?)),
            Command::CountStock {
                sku,
                counted,
                notes,
                approval,
            } => Outcome::Movement(t.adjust_stock(&sku, counted, notes, approval.as_ref())?),
            Command::SetStorePrice {
                sku,
                price,
                approval,
            } => {
                t.set_store_price(&sku, price, approval.as_ref())?;
                Outcome::Done
            }
            Command::CreateUser { user, approval } => {
                Outcome::User(t.create_user(user, approval.as_ref())?)
            }
            Command::SetUserActive {
                username,
                active,
                approval,
            } => {
                t.set_user_active(&username, active, approval.as_ref())?;
                Outcome::Done
            }
            Command::ImportProducts(p) => Outcome::Count(t.import_products(&p)?),
            Command::ImportCategories(c) => Outcome::Count(t.import_categories(&c)?),
            Command::ImportCustomers(c) => Outcome::Count(t.import_customers(&c)?),
            Command::ImportSales(s) => Outcome::Count(t.import_sales(&s)?),
            Command::ApplyHqMovement(m) => Outcome::Applied(t.apply_external_movement(&m)?),
            Command::IssueEnrollmentTicket { lane, valid_for } => {
                let lan = self.lan.as_ref().ok_or_else(|| {
                    NodeError::Invalid(
                        "join the store network first: a ticket names this lane's address".into(),
                    )
                })?;
                Outcome::Ticket(Box::new(
                    t.issue_enrollment_ticket(lane, valid_for, &lan.node, &lan.addrs)?,
                ))
            }
            Command::RemoveLane { node } => {
                t.remove_member(&node)?;
                Outcome::Done
            }
            Command::ConnectHq(c) => {
                t.set_hq_credential(&c.url, &c.token)?;
                Outcome::Done
            }
            Command::Watch { skus } => {
                self.watched = skus;
                Outcome::Done
            }
            Command::DismissError => Outcome::Done,
            Command::Maintenance => {
                self.sales_since_maintenance = 0;
                Outcome::Compacted(t.maintenance()?)
            }
        })
    }
}
